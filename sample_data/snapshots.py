"""What a department file holds on its extraction day, in canonical values (the truth's input).

``snapshot(source, timeline, extract)`` keeps the records the department still lists on its
extraction day and adds canonical columns computed from the clean timeline (status on that
day, classes from the code tables). Rules then filter on as_of, as the pipeline will.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from safetynet.sample_data import codes
from safetynet.sample_data.dates import NEVER, add_months
from safetynet.sample_data.events_assets import PENSION_STATUSES, PENSION_TYPES
from safetynet.sample_data.population import CATEGORIES, STATUSES, World

_VEHICLE_CLASS = {k: v[1] for k, v in codes.VEHICLE_TYPE.items()}
NORMAL_ENTITY = "存续（在营、开业、在册）"


def roster_frame(world: World, q: int) -> pd.DataFrame:
    """Roster rows in the file of quarter q, canonical values."""
    as_of = world.quarters[q]
    idx, status = world.rows_at(as_of)
    hh = world.row_hh[idx]
    pidx = world.row_pidx[idx]
    ge = world.hh_ge[hh]
    county = world.hh_county[hh]
    urban = world.hh_urban[hh]
    # household size as declared at as_of: members not exited (all rows if none is left)
    staying = np.bincount(hh[status < 2], minlength=len(world.hh_id))
    listed = np.bincount(hh, minlength=len(world.hh_id))
    size = np.where(staying > 0, staying, listed)[hh]
    return pd.DataFrame({
        "row": idx, "record_key": world.row_key[idx], "pidx": pidx,
        "person_id": world.id18[pidx], "household_id": world.hh_id[hh], "hh": hh,
        "county": county, "county_code": np.array([c[0] for c in codes.COUNTIES])[county],
        "urban": urban, "category": np.array(CATEGORIES)[world.hh_category[hh]],
        "status": np.array(STATUSES)[status], "relation": world.row_relation[idx],
        "assistance_start": world.row_start[idx],
        "gradual_exit_start": np.where(ge <= as_of, ge, NEVER),
        "household_size": size, "declared_income": world.hh_income[hh],
        "birth": world.birth[pidx],
        "standard": world.standards[q, county, np.where(urban, 0, 1)],
        "legacy": world.row_legacy[idx],
    })


def _in_window(df: pd.DataFrame, extract: int, days_back: int, column: str) -> np.ndarray:
    return (df["start"].to_numpy() <= extract) & (df[column].to_numpy() > extract - days_back)


def snapshot(source: str, df: pd.DataFrame, extract: int) -> pd.DataFrame:
    """Records in the department file extracted on `extract`, with canonical columns."""
    start = df["start"].to_numpy()
    if source in ("health_deaths", "civil_affairs_cremations"):
        out = df[_in_window(df, extract, 365, "death")].copy()
        out["death_date"] = out["death"]
    elif source == "hrss_pension":
        out = df[start <= extract].copy()
        code = np.where(out["change"].to_numpy() <= extract, out["status_b"], out["status_a"])
        out["status_code"] = code
        out["status"] = np.array(PENSION_STATUSES)[code]
        out["insurance_type"] = np.array(PENSION_TYPES)[out["ptype"].to_numpy()]
    elif source == "hrss_unemployment":
        out = df[_in_window(df, extract, 730, "end")].copy()
        ended = out["end"].to_numpy() <= extract
        out["status"] = np.where(ended, "ended", "active")
        out["end_date"] = np.where(ended & ~out["end_blank"].to_numpy(), out["end"], NEVER)
    elif source == "public_security_vehicles":
        out = df[_in_window(df, extract, 3 * 365, "change")].copy()
        code = np.where(out["change"].to_numpy() <= extract, out["end_code"], out["normal_code"])
        out["status_code"] = code
        out["status"] = pd.Series(code).map(codes.VEHICLE_STATUS).to_numpy()
        out["vehicle_class"] = out["vtype"].map(_VEHICLE_CLASS).to_numpy()
    elif source == "natural_resources_properties":
        out = df[start <= extract].copy()
        out["status"] = np.where(out["change"].to_numpy() <= extract, "historical", "current")
    elif source == "market_regulation_business":
        out = df[_in_window(df, extract, 3 * 365, "change")].copy()
        label = np.where(out["change"].to_numpy() <= extract, out["end_code"], NORMAL_ENTITY)
        out["status_label"] = label
        out["entity_status"] = pd.Series(label).map(codes.ENTITY_STATUS).to_numpy()
        out["entity_type"] = out["etype"].map(codes.ENTITY_TYPE).to_numpy()
        out["role_canonical"] = out["role"].map(codes.ROLE).to_numpy()
    elif source == "medical_security_settlements":
        lo = add_months(extract, -15)
        out = df[(start <= extract) & (start > lo)].copy()
    elif source == "disability_federation_certificates":
        out = df[start <= extract].copy()
        revoked = out["revoked"].to_numpy() <= extract
        expired = (out["valid_until"].to_numpy() < extract) & out["shows_expired"].to_numpy()
        out["status"] = np.where(revoked, "revoked", np.where(expired, "expired", "valid"))
    else:
        raise KeyError(source)
    return out
