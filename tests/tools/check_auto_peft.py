"""peft's AutoPeftModelForCausalLM.from_pretrained(adapter) finds the base our export recorded.

    check_auto_peft.py ADAPTER EXPECTED_BASE_ID EXPECTED_BASE_FOLDER

ADAPTER is a PEFT folder written by `qlora export --peft`; its adapter_config.json must name
EXPECTED_BASE_ID (a Hub ID for a base opened from the Hugging Face cache, else the folder's
absolute path). AutoPeftModelForCausalLM must then load it (offline: a Hub ID resolves through
HF_HOME's cache, as for a user who downloaded the model) and give exactly the logits of
PeftModel.from_pretrained on AutoModelForCausalLM.from_pretrained(EXPECTED_BASE_FOLDER), which
differ from the base's own (the adapter is trained, so it changes them).
"""
import json
import sys
from pathlib import Path

import torch
from peft import AutoPeftModelForCausalLM, PeftModel
from transformers import AutoModelForCausalLM


def main() -> int:
    adapter, want_id, base_folder = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
    recorded = json.loads((adapter / "adapter_config.json").read_text())["base_model_name_or_path"]
    if recorded != want_id:
        print(f"FAIL: {adapter} records base '{recorded}', expected '{want_id}'")
        return 1
    ids = torch.tensor([[1, 5, 9, 2, 7, 3, 11, 4]])
    with torch.no_grad():
        auto = AutoPeftModelForCausalLM.from_pretrained(adapter, dtype=torch.float32).eval()
        manual = PeftModel.from_pretrained(
            AutoModelForCausalLM.from_pretrained(base_folder, dtype=torch.float32), adapter).eval()
        a, m = auto(ids).logits, manual(ids).logits
        with manual.disable_adapter():
            plain = manual(ids).logits
    if not torch.equal(a, m):
        print(f"FAIL: AutoPeftModelForCausalLM logits differ from PeftModel's by {(a - m).abs().max().item()}")
        return 1
    if torch.equal(a, plain):
        print("FAIL: the adapter does not change the logits; the check would prove nothing")
        return 1
    print(f"OK: {adapter.name}: base '{recorded}' loaded by AutoPeftModelForCausalLM, logits equal "
          f"PeftModel's (adapter shifts them by up to {(a - plain).abs().max().item():.3g})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
