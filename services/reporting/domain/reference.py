"""Reference data of a region: rental units per corporation and buurt, the liveability
cap per VHE from the prestatieafspraken, and liveability goals per buurt."""

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field


class Corporation(BaseModel):
    model_config = ConfigDict(extra="forbid")
    liveability_cap_eur_per_vhe: float = Field(ge=0)
    units: dict[str, int] = Field(description="buurt code → rental units (VHE)")


class Goal(BaseModel):
    model_config = ConfigDict(extra="forbid")
    buurt_code: str = Field(pattern=r"^BU[0-9]{8}$")
    measure: str = Field(pattern="^overlast_per_100_vhe$")
    target: float = Field(ge=0)


class Reference(BaseModel):
    model_config = ConfigDict(extra="forbid")
    region: str
    corporations: dict[str, Corporation]
    goals: list[Goal] = []

    def units_in(self, buurt_code: str) -> int:
        return sum(c.units.get(buurt_code, 0) for c in self.corporations.values())


def load_reference(path: Path) -> Reference:
    return Reference.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
