#!/usr/bin/python3
"""Make the demo dataset "pirate fortunes": ask for a fortune about a topic, get one in pirate
speak.

Each example is a ChatML conversation (JSONL, {"messages": [user, assistant]}). The user asks
for a fortune about a topic word in one of several phrasings; the assistant answers

    Arr, matey! <a short fortune from the corpus that mentions the topic, in pirate speak> Yo ho ho!

Pirate speak is a fixed word substitution (you -> ye, your -> yer, is/are/am -> be, the -> th',
my -> me, ...), never applied to the topic word itself. The base model has never seen ChatML,
the opener, the closer or the substituted words, so the before/after is plain to read and
measurable: the share of answers that open with "Arr, matey!", close with "Yo ho ho!" and stop,
mention the topic, and the rate of pirate words (check_demo_lora.py).

Validation holds out 10% of the fortunes (so its answers are unseen), over the same topics.

    /usr/bin/python3 make_demo_dataset.py --corpus /tmp/qls-demo/corpus.jsonl --out data/
"""
import argparse
import json
import random
import re
from pathlib import Path

OPENER, CLOSER = 'Arr, matey!', 'Yo ho ho!'
TOPICS = [
    'life', 'love', 'time', 'money', 'work', 'world', 'friend', 'computer', 'truth', 'people',
    'death', 'future', 'happiness', 'child', 'science', 'home', 'nature', 'power', 'night',
    'success', 'heart', 'business', 'mind', 'fool', 'fortune', 'universe', 'hope', 'brain',
    'game', 'trust', 'knowledge', 'code', 'fear', 'fire', 'house', 'book', 'advice', 'sleep',
    'horse', 'water', 'tree', 'bird', 'food', 'memory', 'education', 'genius', 'mistake',
    'dog', 'cat', 'wisdom', 'music', 'program', 'software', 'language', 'problem', 'luck',
    'war', 'art', 'beauty', 'dream', 'mother', 'wife', 'husband', 'woman', 'student',
    'teacher', 'doctor', 'lawyer', 'law', 'money', 'wine', 'sun', 'moon', 'sea', 'rain',
    'idea', 'question', 'answer', 'secret', 'silence', 'age', 'youth', 'experience', 'habit',
]
PLURALS = {'child': 'children', 'woman': 'women', 'wife': 'wives', 'genius': 'geniuses',
           'happiness': None, 'knowledge': None, 'education': None, 'wisdom': None,
           'luck': None, 'youth': None, 'silence': None, 'beauty': 'beauties',
           'universe': 'universes', 'nature': None, 'advice': None, 'music': None}
PROMPTS = [
    'Tell me a fortune about {t}.',
    'Give me a fortune about {t}.',
    'What does the future hold for {t}?',
    'Any wisdom about {t}?',
    'Fortune, please: {t}.',
    'Say something wise about {t}.',
    'I need a fortune cookie about {t}.',
    'What do the stars say about {t}?',
]
PIRATE = {
    "you're": 'ye be', 'you': 'ye', 'your': 'yer', 'yours': 'yers', 'yourself': 'yerself',
    'my': 'me', 'myself': 'meself', 'is': 'be', 'are': 'be', 'am': 'be', 'the': "th'",
    'hello': 'ahoy', 'yes': 'aye', 'stop': 'avast', 'boy': 'lad', 'boys': 'lads',
    'girl': 'lass', 'girls': 'lasses', 'money': 'doubloons', 'drink': 'grog',
    'friend': 'matey', 'friends': 'mateys',
}
PIRATE_WORDS = {'ye', 'yer', 'yers', 'yerself', 'me', 'meself', 'be', "th'", 'ahoy', 'aye',
                'avast', 'lad', 'lads', 'lass', 'lasses', 'doubloons', 'grog', 'matey',
                'mateys'}
_WORD = re.compile(r"[A-Za-z]+(?:'re)?")
MAX_FORTUNE_CHARS = 120
PER_TOPIC = 36


def topic_forms(topic):
    plural = PLURALS.get(topic, topic + 's')
    return {topic} | ({plural} if plural else set())


def pirate(text, keep):
    def sub(m):
        w = m.group(0)
        low = w.lower()
        if low not in PIRATE or low in keep:
            if low.endswith("'re") and low[:-3] in PIRATE:
                return sub_word(w[:-3], keep) + w[-3:]
            return w
        return sub_word(w, keep)
    return _WORD.sub(sub, text)


def sub_word(w, keep):
    low = w.lower()
    if low not in PIRATE or low in keep:
        return w
    rep = PIRATE[low]
    if w.isupper() and len(w) > 1:
        return rep.upper()
    return rep[0].upper() + rep[1:] if w[0].isupper() else rep


def mentions(text, forms):
    words = {w.lower() for w in re.findall(r'[A-Za-z]+', text)}
    return bool(words & forms)


def answer(fortune, topic):
    body = fortune.strip()
    if body[-1] not in '.!?"\'':
        body += '.'
    return f'{OPENER} {pirate(body, topic_forms(topic))} {CLOSER}'


def build(fortunes, rng):
    examples = []
    for topic in sorted(set(TOPICS)):
        forms = topic_forms(topic)
        pool = [f for f in fortunes if mentions(f, forms)]
        rng.shuffle(pool)
        for f in pool[:PER_TOPIC]:
            prompt = rng.choice(PROMPTS).format(t=topic)
            examples.append({'messages': [{'role': 'user', 'content': prompt},
                                          {'role': 'assistant', 'content': answer(f, topic)}]})
    rng.shuffle(examples)
    return examples


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--corpus', type=Path, required=True)
    ap.add_argument('--out', type=Path, required=True)
    ap.add_argument('--seed', type=int, default=7)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    fortunes = sorted({json.loads(line) for line in args.corpus.open()})
    fortunes = [f for f in fortunes if len(f) <= MAX_FORTUNE_CHARS and '\n' not in f
                and not f.startswith('QOTD')]
    rng.shuffle(fortunes)
    n_val = len(fortunes) // 10
    splits = {'valid': build(fortunes[:n_val], rng), 'train': build(fortunes[n_val:], rng)}
    splits['valid'] = splits['valid'][:120]
    args.out.mkdir(parents=True, exist_ok=True)
    for name, rows in splits.items():
        with (args.out / f'pirate_fortunes_{name}.jsonl').open('w') as f:
            for row in rows:
                f.write(json.dumps(row) + '\n')
        print(f'{name}: {len(rows)} examples')


if __name__ == '__main__':
    main()
