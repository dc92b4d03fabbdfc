"""Per-clip fixed-frame limb error / root-aligned MPJPE (mm) of the calibrated node and DLT in the
three bench runs of this folder (upright, continuous and quarter-turn MoveNet crops).

    python docs/eval/experiments/movenet_crop/per_clip.py
"""

import json
from pathlib import Path

HERE = Path(__file__).resolve().parent
RUNS = ("upright", "continuous", "quarter")


def main() -> None:
    rows: dict[tuple[str, str, str], dict[str, tuple[float, float]]] = {}
    for run in RUNS:
        d = json.loads((HERE / f"bench_e2e_{run}" / "bench_accuracy.json").read_text())
        for x in d["rows"]:
            if x["method"] in ("scorehmr-calibrated", "dlt"):
                for clip, v in (x.get("per_clip") or {}).items():
                    key = (x["setting"], x["method"], clip.replace("humanoid3d_", ""))
                    rows.setdefault(key, {})[run] = (
                        round(v.get("limb_fixed") or 0, 1),
                        round(v.get("mpjpe") or 0, 1),
                    )
    for key, by_run in sorted(rows.items()):
        print(*key, by_run)


if __name__ == "__main__":
    main()
