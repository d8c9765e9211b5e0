"""Prefecture partitions: merged results equal the single-machine run; one prefecture reruns alone;
the same flow on a local Dask cluster (prefect-dask) gives the same results."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import SAMPLE_SOURCES

AS_OF = "2026-09-30"
PERSONS = 300

RESULT_QUERIES = {
    "record_links": "select source, record_key, person_id, status, method, score, id_quality, "
                    "explanation::varchar, person_key from links.record_links where as_of = $d",
    "roster": "select * exclude (as_of) from links.roster where as_of = $d",
    "warnings": "select * exclude (as_of, evidence), evidence::varchar from warnings.warnings "
                "where as_of = $d",
    "rule_status": "select rule_id, status, warning_count, rule_pack from warnings.rule_status "
                   "where as_of = $d",
    "referral_files": "select department, county_code, format, rows, sha256, path "
                      "from referrals.files where as_of = $d and is_current",
}


def results(warehouse: Path) -> dict[str, list[tuple[str, ...]]]:
    """Every result table of AS_OF as sorted rows of text (order-independent comparison)."""
    from safetynet.warehouse import connect

    con = connect(warehouse, read_only=True)
    try:
        return {k: sorted(tuple(str(v) for v in row)
                          for row in con.execute(q, {"d": AS_OF}).fetchall())
                for k, q in RESULT_QUERIES.items()}
    finally:
        con.close()


def settings_for(sample: Path, root: Path, **kw: Any):
    from safetynet.settings import RunSettings

    return RunSettings(as_of=AS_OF, sources_dir=SAMPLE_SOURCES, data_dir=sample / AS_OF,
                       warehouse=root / "warehouse.duckdb", out_dir=root / "out", **kw)


@pytest.fixture(scope="module")
def small_sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from safetynet.sample_data.generate import generate

    out = tmp_path_factory.mktemp("scale_sample")
    generate(out, persons=PERSONS, seed=7, quarters=(AS_OF,))
    enrol_in_two_prefectures(out / AS_OF / "civil_affairs" / "roster.csv")
    return out


def enrol_in_two_prefectures(roster: Path) -> None:
    """Append a roster row: the first person again, in a household of another prefecture."""
    import csv

    raw = roster.read_bytes()
    newline = "\r\n" if b"\r\n" in raw[:4096] else "\n"
    rows = list(csv.reader(raw.decode("utf-8-sig").splitlines()))
    header, data = rows[0], rows[1:]
    col = {name: i for i, name in enumerate(header)}
    person = data[0]
    prefix = person[col["居住地行政区划代码"]][:4]
    host = next(r for r in data if r[col["居住地行政区划代码"]][:4] != prefix)
    twin = list(person)
    twin[col["成员编号"]] = "CY9999999999"
    twin[col["户编号"]] = host[col["户编号"]]
    twin[col["居住地行政区划代码"]] = host[col["居住地行政区划代码"]]
    twin[col["与户主关系"]] = "其他"
    with open(roster, "a", encoding="utf-8", newline="") as fh:
        csv.writer(fh, lineterminator=newline).writerow(twin)


@pytest.fixture(scope="module")
def single(small_sample: Path, tmp_path_factory: pytest.TempPathFactory
           ) -> tuple[Path, dict[str, Any]]:
    """The single-machine run, and the model it fitted (partitions link with a fixed model)."""
    from safetynet.pipeline import run_quarter
    from safetynet.warehouse import connect

    root = tmp_path_factory.mktemp("single")
    settings = settings_for(small_sample, root)
    run_quarter(settings)
    con = connect(settings.warehouse, read_only=True)
    model = json.loads(con.execute("select model from links.model").fetchone()[0])
    con.close()
    return settings.warehouse, model


@pytest.fixture(scope="module")
def partitioned(small_sample: Path, single: tuple[Path, dict[str, Any]],
                tmp_path_factory: pytest.TempPathFactory):
    from safetynet.partitions import run_quarter_partitioned

    root = tmp_path_factory.mktemp("partitioned")
    settings = settings_for(small_sample, root, match_settings={"model": single[1]})
    summary = run_quarter_partitioned(settings)
    return settings, summary


def test_merged_partitions_equal_the_single_machine_run(single, partitioned) -> None:
    settings, summary = partitioned
    names = summary["partitions"]["names"]
    assert len(names) >= 2 and all(len(n) == 4 and n.isdigit() for n in names)
    runs = {(r["name"], r["stage"]): r for r in summary["partitions"]["runs"]}
    assert runs[("_residual", "link")]["records"] > 0  # damaged / unknown IDs went there
    assert all(runs[(n, "link")]["records"] > 0 for n in names)
    merged, alone = results(settings.warehouse), results(single[0])
    assert merged["warnings"], "the sample must produce warnings"
    for table in RESULT_QUERIES:
        assert merged[table] == alone[table], table
    assert output_files(settings.run_out_dir) == output_files(single[0].parent / "out" / AS_OF)


def output_files(folder: Path) -> dict[str, str]:
    """sha256 of every referral and link-quality file (relative path -> digest)."""
    from safetynet.outputs import sha256_file

    files = {p.relative_to(folder).as_posix(): sha256_file(p) for p in folder.rglob("*")
             if p.is_file() and p.parts[len(folder.parts)] in ("referrals", "link_quality")}
    assert any(k.startswith("link_quality/") for k in files)
    return files


def test_each_person_and_household_lives_in_one_partition(partitioned) -> None:
    from safetynet.warehouse import connect

    settings, _ = partitioned
    con = connect(settings.warehouse, read_only=True)
    try:
        split = con.execute("""
            select count(*) from (
                select r.person_id from links.roster r join meta.partition_households p
                  on p.as_of = r.as_of and p.household_id = r.household_id
                where r.as_of = ? and r.person_id is not null
                group by r.person_id having count(distinct p.partition) > 1)""",
                            [AS_OF]).fetchone()[0]
        enrolled_twice = con.execute("""
            select count(*) from warnings.warnings where as_of = ?
            and rule_id = 'DUPLICATE_ENROLMENT'""", [AS_OF]).fetchone()[0]
    finally:
        con.close()
    assert split == 0
    assert enrolled_twice > 0  # the person enrolled in two prefectures is still found


def test_one_prefecture_reruns_alone(small_sample: Path, single, partitioned) -> None:
    from safetynet.partitions import partition_path, run_quarter_partitioned

    settings, summary = partitioned
    names = summary["partitions"]["names"]
    target, others = names[0], names[1:]
    before = {n: partition_path(settings, n).stat().st_mtime_ns for n in others}
    residual = partition_path(settings, "_residual").stat().st_mtime_ns
    rerun = run_quarter_partitioned(settings, only=[target])
    assert {(r["name"], r["stage"]) for r in rerun["partitions"]["runs"]} == {
        (target, "link"), (target, "warn")}
    assert {n: partition_path(settings, n).stat().st_mtime_ns for n in others} == before
    assert partition_path(settings, "_residual").stat().st_mtime_ns == residual
    assert results(settings.warehouse) == results(single[0])


@pytest.mark.slow
def test_scaleout_flow_on_a_local_dask_cluster_equals_the_single_run(
        small_sample: Path, single, tmp_path: Path) -> None:
    from prefect.testing.utilities import prefect_test_harness

    from safetynet.flows.scaleout import scaleout_flow

    flow = scaleout_flow(n_workers=2)
    assert type(flow.task_runner).__name__ == "DaskTaskRunner"
    with prefect_test_harness():
        summary = flow(as_of=AS_OF, sources_dir=str(SAMPLE_SOURCES),
                       data_dir=str(small_sample / AS_OF), warehouse=str(tmp_path / "w.duckdb"),
                       out_dir=str(tmp_path / "out"), threads=1,
                       match_settings={"model": single[1]})
    assert len(summary["partitions"]["names"]) >= 2
    assert results(tmp_path / "w.duckdb") == results(single[0])
