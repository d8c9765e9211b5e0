"""Ground truth of one quarter, computed from the clean model (never from the pipeline).

Writes ``truth/records.csv`` (every department record), ``truth/links.csv`` (records of roster
persons), ``truth/bad_rows.csv`` and ``truth/warnings.csv`` (the 12 default rules with the
semantics of docs/architecture.md, "Precise semantics of the default rules").
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from safetynet.outputs import atomic_write_bytes
from safetynet.sample_data.dates import NEVER, add_months, age_at, to_date, working_day_due
from safetynet.sample_data.layouts import record_keys, unit_numbers
from safetynet.sample_data.noise import CODE, NOISE_KINDS, id_values
from safetynet.sample_data.population import DECOY_KINDS, World
from safetynet.sample_data.writers import ArrowStream

WARNING_COLUMNS = ("rule_id", "subject_level", "id_number", "household_id", "severity",
                   "routes", "due_date")
RULES = ("DEATH_REVIEW", "VEHICLE_OWNED", "PROPERTY_RECENT_PURCHASE", "PROPERTY_MULTIPLE",
         "BUSINESS_REGISTERED", "PENSION_CONTRIBUTING", "GRADUAL_EXIT_DUE",
         "DUPLICATE_ENROLMENT", "SEVERE_DISABILITY_UNCOVERED", "HIGH_MEDICAL_EXPENSE",
         "MAJOR_ILLNESS", "UNEMPLOYED_WORKING_AGE")
VEHICLE_TYPES = ("passenger_car", "truck", "motorcycle", "tricycle")
BUSINESS_ROLES = ("legal_representative", "investor", "shareholder", "operator")
ENTITY_TYPES = ("company", "sole_proprietorship", "individual_business", "cooperative")
_STR = pa.string()
RECORD_SCHEMA = pa.schema([(c, _STR) for c in ("source", "source_record_key", "id_number",
                                                "noise_kind", "decoy_kind", "identifiable")])
LINK_SCHEMA = pa.schema([(c, _STR) for c in ("source", "source_record_key", "id_number")])
BAD_SCHEMA = pa.schema([(c, _STR) for c in ("source", "source_record_key", "column", "kind")])
_KEEP = {  # canonical columns the rules read, per source
    "health_deaths": ("death_date",), "civil_affairs_cremations": ("death_date",),
    "hrss_pension": ("insurance_type", "status", "base"),
    "hrss_unemployment": ("status", "end_date"),
    "public_security_vehicles": ("vehicle_class", "status", "disabled"),
    "natural_resources_properties": ("usage", "acq", "status", "unit", "self_built_rural",
                                     "town", "subzone", "building"),
    "market_regulation_business": ("role_canonical", "entity_type", "entity_status"),
    "medical_security_settlements": ("oop", "major"),
    "disability_federation_certificates": ("grade", "status", "valid_until"),
}


def _one_edit(a: str, b: str) -> bool:
    """One substitution or one adjacent transposition apart (equal lengths)."""
    if len(a) != len(b):
        return False
    diff = [i for i in range(len(a)) if a[i] != b[i]]
    if len(diff) == 1:
        return True
    return len(diff) == 2 and diff[1] == diff[0] + 1 and a[diff[0]] == b[diff[1]] \
        and a[diff[1]] == b[diff[0]]


def _csv(path: Path, table: pa.Table) -> None:
    sink = pa.BufferOutputStream()
    pacsv.write_csv(table, sink, pacsv.WriteOptions(quoting_style="none", quoting_header="none"))
    atomic_write_bytes(path, sink.getvalue().to_pybytes())


class QuarterTruth:
    """Collects one quarter's department snapshots and writes the truth files."""

    def __init__(self, world: World, q: int, roster: pd.DataFrame, folder: Path) -> None:
        self.world, self.q, self.roster, self.folder = world, q, roster, folder
        self.as_of = world.quarters[q]
        self.in_file = np.zeros(world.n_persons, dtype=bool)
        self.in_file[roster["pidx"].to_numpy()] = True
        look = pd.DataFrame({"name": world.name[roster["pidx"].to_numpy()],
                             "birth": roster["birth"], "county": roster["county"],
                             "pidx": roster["pidx"]})
        self.lookalikes = look.groupby(["name", "birth", "county"])["pidx"].nunique().to_dict()
        self.same_name_dob: dict[tuple, set[str]] = {}
        for key in zip(look["name"].tolist(), look["birth"].tolist(),
                       roster["person_id"].tolist(), strict=True):
            self.same_name_dob.setdefault(key[:2], set()).add(key[2])
        self.records = ArrowStream(folder / "records.csv", RECORD_SCHEMA)
        self.links = ArrowStream(folder / "links.csv", LINK_SCHEMA)
        self.bad: list[pa.Table] = []
        self.linked: dict[str, list[pd.DataFrame]] = {}
        self.warnings_frame: pd.DataFrame | None = None

    def identifiable(self, snap: pd.DataFrame) -> np.ndarray:
        """Whether the pipeline can attribute the record from its own fields.

        A missing or unrecoverable ID falls back to name + birth date + county, which must pick
        exactly one roster person (for a roster person) or none (for anyone else). A typo or a
        transposition is repairable when exactly one roster ID with the same name and birth
        date is one edit away (a namesake twin's ID may be one edit away too)."""
        world = self.world
        pidx = snap["pidx"].to_numpy()
        noise_code = snap["noise"].to_numpy()
        out = np.ones(len(snap), dtype=bool)
        blind = np.flatnonzero((noise_code == CODE["missing_id"]) |
                               (noise_code == CODE["scientific"]))
        for i in blind.tolist():
            p = pidx[i]
            n = self.lookalikes.get((world.name[p], world.birth[p], world.county[p]), 0)
            out[i] = n == 1 if self.in_file[p] else n == 0
        damaged = np.flatnonzero((noise_code == CODE["typo"]) |
                                 (noise_code == CODE["transposition"]))
        if len(damaged):
            shown = id_values(world, pidx[damaged], noise_code[damaged],
                              snap["param"].to_numpy()[damaged])
            for i, text in zip(damaged.tolist(), shown.tolist(), strict=True):
                p = pidx[i]
                ids = self.same_name_dob.get((world.name[p], world.birth[p]), ())
                n = sum(_one_edit(text, other) for other in ids)
                out[i] = n == 1 if self.in_file[p] else n == 0
        return out

    def add(self, source: str, snap: pd.DataFrame, bad_spec: tuple[tuple[str, str, str], ...]
            ) -> None:
        """Record one department snapshot (as written) in the truth."""
        world = self.world
        pidx = snap["pidx"].to_numpy()
        keys = record_keys(source, snap)
        member = self.in_file[pidx]
        ident = self.identifiable(snap)
        bad = snap["bad"].to_numpy()
        n = len(snap)
        take = pa.array(pidx)
        ids = pc.if_else(pa.array(member), world.arrow("id18").take(take), "")
        self.records.write(pa.table({
            "source": pa.array([source], pa.string()).take(pa.array(np.zeros(n, np.int8))),
            "source_record_key": keys,
            "id_number": ids,
            "noise_kind": pa.array(NOISE_KINDS, pa.string()).take(pa.array(snap["noise"]
                                                                           .to_numpy())),
            "decoy_kind": pa.array([DECOY_KINDS.get(k, "") for k in range(4)], pa.string())
            .take(pa.array(world.kind[pidx])),
            "identifiable": pa.array(["false", "true"]).take(pa.array(ident.astype(np.int8))),
        }, schema=RECORD_SCHEMA))
        link = member & (bad == 0)
        mask = pa.array(link)
        self.links.write(pa.table({
            "source": pa.array([source], pa.string()).take(
                pa.array(np.zeros(int(link.sum()), np.int8))),
            "source_record_key": keys.filter(mask),
            "id_number": ids.filter(mask),
        }, schema=LINK_SCHEMA))
        if bad.any():
            hit = np.flatnonzero(bad)
            self.bad.append(pa.table({
                "source": pa.array([source] * len(hit), pa.string()),
                "source_record_key": keys.take(pa.array(hit)),
                "column": pa.array([bad_spec[b - 1][0] for b in bad[hit].tolist()], pa.string()),
                "kind": pa.array([bad_spec[b - 1][1] for b in bad[hit].tolist()], pa.string()),
            }))
        usable = link & ident
        if source == "medical_security_settlements":  # only the rules' 12-month window
            start = snap["start"].to_numpy()
            usable &= (start > add_months(self.as_of, -12)) & (start <= self.as_of)
        cols = ["pidx", "start", *_KEEP[source]]
        self.linked.setdefault(source, []).append(snap.loc[usable, cols])

    def write(self) -> dict[str, int]:
        """Finish the truth files; returns row counts."""
        counts = {"truth/records.csv": self.records.close(),
                  "truth/links.csv": self.links.close()}
        bad = pa.concat_tables(self.bad) if self.bad else BAD_SCHEMA.empty_table()
        warnings = self.warnings_frame = self.warnings()
        for name, table in (("bad_rows.csv", bad),
                            ("warnings.csv", pa.Table.from_pandas(warnings,
                                                                  preserve_index=False))):
            _csv(self.folder / name, table)
            counts[f"truth/{name}"] = table.num_rows
        return counts

    # ----- rules -------------------------------------------------------------------------
    def warnings(self) -> pd.DataFrame:
        """Every warning the 12 default rules must raise at this as_of."""
        w, T, r = self.world, self.as_of, self.roster
        r_in = r[r["status"].isin(["active", "gradual_exit"])]
        recip_row = r_in["category"].isin(["dibao", "tekun"])
        recip_hh = set(r_in.loc[recip_row, "hh"].tolist())
        members = r_in[r_in["hh"].isin(recip_hh)]
        in_roster = set(r_in["pidx"].tolist())
        recipients = set(r_in.loc[recip_row, "pidx"].tolist())
        member_set = set(members["pidx"].tolist())
        due = working_day_due(to_date(T))
        out: list[tuple] = []

        def person(rule, pids, severity, routes):
            for p in sorted(set(pids), key=lambda x: w.id18[x]):
                sev = severity(p) if callable(severity) else severity
                rt = routes(p) if callable(routes) else routes
                out.append((rule, "person", w.id18[p], "", sev, rt, due))

        def household(rule, hhs, severity, routes):
            for h in sorted(set(hhs), key=lambda x: w.hh_id[x]):
                sev = severity(h) if callable(severity) else severity
                rt = routes(h) if callable(routes) else routes
                out.append((rule, "household", "", w.hh_id[h], sev, rt, due))

        frames = {k: pd.concat(v, ignore_index=True) for k, v in self.linked.items()}

        def linked(source):  # `start` is the rule's record date (registration, settlement...)
            d = frames[source]
            return d[d["start"].to_numpy() <= T]

        # DEATH_REVIEW
        deaths = pd.concat([frames["health_deaths"], frames["civil_affairs_cremations"]])
        deaths = deaths[(deaths["death_date"] <= T) & deaths["pidx"].isin(in_roster)]
        first = deaths.groupby("pidx")["death_date"].min()
        for p in sorted(first.index, key=lambda x: w.id18[x]):
            out.append(("DEATH_REVIEW", "person", w.id18[p], "", "high", "civil_affairs",
                        to_date(add_months(int(first[p]), 3))))
        # VEHICLE_OWNED
        v = linked("public_security_vehicles")
        v = v[v["vehicle_class"].isin(VEHICLE_TYPES) & (v["status"] == "normal") & ~v["disabled"]]
        person("VEHICLE_OWNED", v.loc[v["pidx"].isin(member_set), "pidx"], "medium",
               "civil_affairs")
        # PROPERTY_RECENT_PURCHASE / PROPERTY_MULTIPLE
        pr = linked("natural_resources_properties")
        pr = pr[(pr["usage"] == "residential") & (pr["status"] == "current")]
        recent = pr[pr["acq"].isin(["purchase_new", "purchase_second_hand"]) &
                    (pr["start"] > add_months(T, -36))]
        person("PROPERTY_RECENT_PURCHASE", recent.loc[recent["pidx"].isin(member_set), "pidx"],
               "high", "civil_affairs")
        units = pr.assign(unit_number=unit_numbers(w, pr))[["pidx", "unit_number"]]
        held = members[["hh", "pidx"]].merge(units, on="pidx")
        per_hh = held.groupby("hh")["unit_number"].nunique()
        household("PROPERTY_MULTIPLE", per_hh[per_hh >= 2].index, "high", "civil_affairs")
        # BUSINESS_REGISTERED
        b = linked("market_regulation_business")
        b = b[b["role_canonical"].isin(BUSINESS_ROLES) & b["entity_type"].isin(ENTITY_TYPES) &
              (b["entity_status"] == "active")]
        person("BUSINESS_REGISTERED", b.loc[b["pidx"].isin(member_set), "pidx"], "medium",
               "civil_affairs")
        # PENSION_CONTRIBUTING
        pe = linked("hrss_pension")
        pe = pe[pe["insurance_type"].isin(["enterprise_employee", "public_institution"]) &
                (pe["status"] == "contributing") & pe["pidx"].isin(member_set)]
        top = pe.groupby("pidx", as_index=False)["base"].max().merge(members, on="pidx")
        over = top["declared_income"] + top["base"] / top["household_size"] > top["standard"]
        high = set(top.loc[over, "pidx"].tolist())
        person("PENSION_CONTRIBUTING", pe["pidx"], lambda p: "high" if p in high else "medium",
               "civil_affairs")
        # GRADUAL_EXIT_DUE
        ge = r[r["status"] == "gradual_exit"].groupby("hh")["gradual_exit_start"].min()
        household("GRADUAL_EXIT_DUE", ge[add_months(ge.to_numpy(), 6) <= T].index, "medium",
                  "civil_affairs")
        # DUPLICATE_ENROLMENT
        dup = r_in.groupby("person_id").agg(h=("household_id", "nunique"),
                                            c=("county_code", "nunique"), pidx=("pidx", "first"))
        person("DUPLICATE_ENROLMENT", dup.loc[(dup["h"] > 1) | (dup["c"] > 1), "pidx"], "high",
               "civil_affairs")
        # SEVERE_DISABILITY_UNCOVERED
        c = frames["disability_federation_certificates"]  # no issue-date condition
        c = c[c["grade"].isin([1, 2]) & (c["status"] == "valid") & (c["valid_until"] >= T)]
        cand = np.array(sorted(in_roster - recipients), dtype=np.int64)
        adults = set(cand[age_at(w.birth[cand], T) >= 16].tolist())
        person("SEVERE_DISABILITY_UNCOVERED", c.loc[c["pidx"].isin(adults), "pidx"], "high",
               "civil_affairs")
        # HIGH_MEDICAL_EXPENSE / MAJOR_ILLNESS
        s = linked("medical_security_settlements")
        s = s[s["start"] > add_months(T, -12)]
        spent = s.groupby("pidx")["oop"].sum()
        hh_rows = r_in[["hh", "pidx"]].drop_duplicates()
        hh_spent = hh_rows.assign(oop=hh_rows["pidx"].map(spent).fillna(0.0)) \
            .groupby("hh")["oop"].sum()
        heads = r.sort_values(["hh", "relation", "person_id"]).drop_duplicates("hh") \
            .set_index("hh")
        limit = 12 * heads["household_size"] * heads["standard"]
        high = hh_spent[hh_spent >= limit.reindex(hh_spent.index)]
        household("HIGH_MEDICAL_EXPENSE", high.index,
                  lambda h: "medium" if h in recip_hh else "high",
                  lambda h: "medical_security" if h in recip_hh else
                  "medical_security;civil_affairs")
        major = s.loc[s["major"] & s["pidx"].isin(in_roster), "pidx"]
        person("MAJOR_ILLNESS", major, "medium",
               lambda p: "medical_security" if p in recipients else
               "medical_security;civil_affairs")
        # UNEMPLOYED_WORKING_AGE
        u = linked("hrss_unemployment")
        end = u["end_date"].to_numpy()
        open_ = np.where(end < NEVER, end > T, u["status"].to_numpy() == "active")
        u = u[open_ & u["pidx"].isin(in_roster)]
        age = age_at(w.birth[u["pidx"].to_numpy()], T)
        person("UNEMPLOYED_WORKING_AGE", u.loc[(age >= 16) & (age <= 59), "pidx"], "low", "hrss")
        df = pd.DataFrame(out, columns=list(WARNING_COLUMNS))
        df["due_date"] = df["due_date"].map(lambda d: d.isoformat())
        return df.sort_values(["rule_id", "id_number", "household_id"]).reset_index(drop=True)


def lifecycle(per_quarter: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """warning_key x quarter: 1 where the warning fires in that quarter."""
    frames = []
    for label, df in per_quarter.items():
        key = df["rule_id"] + ":" + df["id_number"].where(df["id_number"] != "",
                                                          df["household_id"])
        frames.append(pd.DataFrame({"warning_key": key, label: 1}))
    out = frames[0]
    for f in frames[1:]:
        out = out.merge(f, on="warning_key", how="outer")
    return out.fillna(0).astype({c: int for c in per_quarter}).sort_values("warning_key")

