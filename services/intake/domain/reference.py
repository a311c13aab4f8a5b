"""The buurten (CBS neighbourhood codes) a deployment serves, shipped as data per region.

Corporation systems hold buurt and wijk per rental unit; intake checks that the pair is one
the deployment serves and that the buurt lies in that wijk.
"""

import csv
from dataclasses import dataclass
from pathlib import Path

SHIPPED = Path(__file__).resolve().parents[1] / "reference" / "buurten-GM0363.csv"


@dataclass(frozen=True)
class Neighbourhoods:
    wijk_of: dict[str, str]  # buurt code → wijk code

    def problem(self, buurt_code: str, wijk_code: str) -> str | None:
        """Why this buurt/wijk pair is refused, or None when it is served."""
        wijk = self.wijk_of.get(buurt_code)
        if wijk is None:
            return f"buurt {buurt_code} is not in the reference list of buurten this deployment serves"
        if wijk != wijk_code:
            return f"buurt {buurt_code} is not in wijk {wijk_code} (it lies in {wijk})"
        return None


def load(path: Path) -> Neighbourhoods:
    with path.open(newline="", encoding="utf-8") as f:
        return Neighbourhoods({row["buurt_code"]: row["wijk_code"] for row in csv.DictReader(f)})


# The list request models check against; app.build replaces it with the configured file.
served = load(SHIPPED)


def serve(neighbourhoods: Neighbourhoods) -> None:
    global served
    served = neighbourhoods
