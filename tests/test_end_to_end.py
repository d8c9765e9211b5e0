"""A whole quarter, twice, against the sample generator's ground truth."""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from safetynet.exports import export_links, export_warnings
from safetynet.warehouse import connect
from tests.conftest import E2E, QUARTERS, SAMPLE_SOURCES, read_csv

pytestmark = pytest.mark.slow


def _export(e2e: E2E, as_of: str, kind: str) -> list[dict[str, str]]:
    from datetime import date

    path = e2e.root / f"{kind}_{as_of}.csv"
    con = connect(e2e.warehouse, read_only=True)
    try:
        (export_links if kind == "links" else export_warnings)(con, date.fromisoformat(as_of), path)
    finally:
        con.close()
    return read_csv(path)


def _link_key(r: dict[str, str]) -> tuple[str, str]:
    return r["source"], r["source_record_key"]


@pytest.mark.parametrize("as_of", QUARTERS)
def test_every_source_loads_and_every_row_is_accounted_for(e2e: E2E, as_of: str) -> None:
    sources = e2e.quarters[as_of].summary["sources"]
    configured = {p.stem for p in SAMPLE_SOURCES.glob("*.yaml")}
    assert len(sources) == len(configured)
    for s in sources:
        assert s["status"] == "loaded", s
        assert s["rows_read"] > 0, s
        assert s["rows_read"] == s["rows_staged"] + s["rows_quarantined"], s


@pytest.mark.parametrize("as_of", QUARTERS)
def test_links_precision_and_recall_against_truth(e2e: E2E, as_of: str) -> None:
    ours = {_link_key(r): r["id_number"] for r in _export(e2e, as_of, "links")}
    truth_dir = e2e.quarters[as_of].truth_dir
    truth = {_link_key(r): r["id_number"] for r in read_csv(truth_dir / "links.csv")}
    records = {_link_key(r): r for r in read_csv(truth_dir / "records.csv")}
    identifiable = {k for k, v in truth.items()
                    if records.get(k, {}).get("identifiable", "true").lower() == "true"}
    correct = sum(1 for k, v in ours.items() if truth.get(k) == v)
    precision = correct / len(ours)
    recall = sum(1 for k in identifiable if ours.get(k) == truth[k]) / len(identifiable)
    assert len(ours) > 1000
    assert precision >= 0.995, precision
    assert recall >= 0.99, recall


@pytest.mark.parametrize("as_of", QUARTERS)
def test_each_noise_kind_links_and_no_decoy_ever_links(e2e: E2E, as_of: str) -> None:
    ours = {_link_key(r): r["id_number"] for r in _export(e2e, as_of, "links")}
    records = read_csv(e2e.quarters[as_of].truth_dir / "records.csv")
    by_noise: dict[str, list[bool]] = defaultdict(list)
    decoys: Counter[str] = Counter()
    for r in records:
        key = _link_key(r)
        if r.get("decoy_kind"):
            decoys[r["decoy_kind"]] += 1
            assert key not in ours, f"decoy {r['decoy_kind']} linked: {key}"
        elif r["id_number"] and r.get("identifiable", "true").lower() == "true":
            by_noise[r["noise_kind"]].append(ours.get(key) == r["id_number"])
    assert {"namesake", "near_id"} <= set(decoys)
    expected_kinds = {"legacy15", "lowercase_x", "fullwidth", "spaces_dashes", "apostrophe",
                      "typo", "transposition", "missing_id", "traditional", "homophone",
                      "name_spaces", "middle_dot", "scientific"}
    assert expected_kinds <= set(by_noise), expected_kinds - set(by_noise)
    for kind, hits in by_noise.items():
        assert sum(hits) / len(hits) >= 0.98, (kind, sum(hits), len(hits))


def _warning_key(r: dict[str, str]) -> tuple[str, str]:
    return r["rule_id"], r["id_number"] or r["household_id"]


@pytest.mark.parametrize("as_of", QUARTERS)
def test_warnings_per_rule_against_truth(e2e: E2E, as_of: str) -> None:
    ours = {_warning_key(r): r for r in _export(e2e, as_of, "warnings")}
    truth = {_warning_key(r): r for r in read_csv(e2e.quarters[as_of].truth_dir / "warnings.csv")}
    rules = {k[0] for k in truth}
    assert len(rules) == 12, sorted(rules)
    for rule in sorted(rules):
        t = {k for k in truth if k[0] == rule}
        o = {k for k in ours if k[0] == rule}
        tp = len(t & o)
        assert tp / len(o) >= 0.99 if o else False, (rule, "precision", tp, len(o))
        assert tp / len(t) >= 0.99, (rule, "recall", tp, len(t), sorted(t - o)[:3])
    both = set(ours) & set(truth)
    for field in ("subject_level", "severity", "routes", "due_date"):
        agree = sum(ours[k][field] == truth[k][field] for k in both)
        assert agree / len(both) >= 0.99, (field, agree, len(both))


def test_lifecycle_of_the_sample_changes_between_quarters(e2e: E2E) -> None:
    q2 = {_warning_key(r) for r in _export(e2e, QUARTERS[0], "warnings")}
    q3 = {_warning_key(r) for r in _export(e2e, QUARTERS[1], "warnings")}
    assert q2 & q3, "some warnings persist"
    assert q3 - q2, "some warnings are new"
    assert q2 - q3, "some warnings are resolved"


def _tree_digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and p.name != "run.log"}


def test_rerun_of_a_quarter_is_byte_identical(e2e: E2E) -> None:
    from safetynet.pipeline import run_quarter
    from safetynet.settings import RunSettings

    q = e2e.quarters[QUARTERS[1]]
    before = _tree_digest(q.out_dir)
    links_before = _export(e2e, q.as_of, "links")
    warnings_before = _export(e2e, q.as_of, "warnings")
    run_quarter(RunSettings(as_of=q.as_of, sources_dir=SAMPLE_SOURCES, data_dir=q.data_dir,
                            warehouse=e2e.warehouse, out_dir=e2e.root / "out"))
    after = _tree_digest(q.out_dir)
    assert any(k.startswith("referrals") for k in before)
    assert before == after
    assert _export(e2e, q.as_of, "links") == links_before
    assert _export(e2e, q.as_of, "warnings") == warnings_before


def test_referral_files_exist_per_department_and_county(e2e: E2E) -> None:
    q = e2e.quarters[QUARTERS[1]]
    files = q.summary["referral_files"]
    departments = {f["department"] for f in files}
    assert {"civil_affairs", "medical_security", "hrss"} <= departments
    for f in files:
        assert len(f["county_code"]) == 6 and f["county_code"].isdigit()
        assert (q.out_dir / "referrals" / f["path"]).exists() or Path(f["path"]).exists()


def test_bad_rows_are_quarantined_with_file_row_and_column(e2e: E2E) -> None:
    q = e2e.quarters[QUARTERS[1]]
    bad = read_csv(q.truth_dir / "bad_rows.csv")
    assert bad
    con = connect(e2e.warehouse, read_only=True)
    try:
        rows = con.execute(
            "select source, record_key, reason_code, reason, file, row_number "
            "from meta.quarantine where as_of = ?", [q.as_of]).fetchall()
    finally:
        con.close()
    quarantined = {(r[0], r[1]) for r in rows}
    for b in bad:
        assert (b["source"], b["source_record_key"]) in quarantined, b
    for _, _, code, reason, file, row in rows:
        assert code and file and row and "行" in reason
    reports = list((q.out_dir / "quarantine").glob("*.xlsx"))
    assert reports
