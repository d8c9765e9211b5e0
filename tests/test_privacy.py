"""Personal data (issue 6): no full ID number or name in any log line, summary or artifact;
owner-only files; referral files with only their department's columns, formula-safe;
database credentials never shown.

The log scan runs a whole quarter through the CLI and looks for every roster ID (18-character
form, lowercase x, and the 15-digit legacy form) and every full roster name in run.log, the
CLI's stdout and stderr, summary.json, the Prefect artifact markdown and the texts the run keeps
in the warehouse (load errors, contract results, rule notes, quarantine reasons).
"""

from __future__ import annotations

import csv
import io
import json
import logging
import re
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from stdnum.cn.ric import calc_check_digit

from safetynet.log import RedactingFilter, console_handler, redact, run_log
from safetynet.privacy import mask_id, mask_name
from tests.fixtures.bad_inputs.common import (
    Q3,
    CliRun,
    clean_cli_run,
    copy_quarter,
    roster_identities,
    source_config,
    write_sources,
)

PASSWORD = "Pr1vacy-S3cret-pw"


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> CliRun:
    return clean_cli_run(tmp_path_factory.getbasetemp())


def warehouse_texts(warehouse: Path) -> dict[str, str]:
    """Texts the run keeps for people other than the sending department."""
    from safetynet.warehouse import connect

    con = connect(warehouse, read_only=True)
    try:
        queries = {
            "meta.source_loads.error": "select coalesce(error, '') from meta.source_loads",
            "meta.contract_results": "select result::varchar from meta.contract_results",
            "meta.runs.settings": "select settings::varchar from meta.runs",
            "warnings.rule_status": "select coalesce(reason, '') from warnings.rule_status",
            "meta.quarantine.reason": "select reason from meta.quarantine",
        }
        return {k: "\n".join(r[0] for r in con.execute(q).fetchall())
                for k, q in queries.items()}
    finally:
        con.close()


def leaks(text: str, ids: set[str], names: set[str]) -> list[str]:
    found = [i for i in ids if i in text]
    found += [n for n in names if n in text]
    return found


def test_a_whole_quarter_leaves_no_roster_id_or_name_in_logs_summaries_or_artifacts(
        run: CliRun) -> None:
    from safetynet.flows.quarterly import summary_markdown

    ids, names = roster_identities(run.data)
    assert len(ids) > 500 and len(names) > 200  # the scan has something to find
    summary_json = (run.run_out / "summary.json").read_text(encoding="utf-8")
    scanned = {
        "run.log": (run.run_out / "run.log").read_text(encoding="utf-8"),
        "cli stdout": run.stdout,
        "cli stderr": run.stderr,
        "summary.json": summary_json,
        "prefect artifact": summary_markdown(json.loads(summary_json)),
        **warehouse_texts(run.warehouse),
    }
    assert "stage: 人员关联" in scanned["run.log"] and "finished" in scanned["run.log"]
    assert scanned["meta.contract_results"] and scanned["meta.quarantine.reason"]
    for where, text in scanned.items():
        assert not leaks(text, ids, names), (where, leaks(text, ids, names)[:5])
    lines = sum(t.count("\n") + 1 for t in scanned.values())
    assert lines > 100


def test_the_scan_would_see_a_leak(run: CliRun) -> None:
    """The same scan on the roster file itself finds IDs and names (it is not blind)."""
    ids, names = roster_identities(run.data)
    roster = (run.data / "civil_affairs" / "roster.csv").read_text(encoding="utf-8")
    assert len(leaks(roster, ids, names)) > 500


def test_run_files_and_folders_are_owner_only(run: CliRun) -> None:
    assert run.warehouse.stat().st_mode & 0o777 == 0o600
    for wal in run.warehouse.parent.glob("*.wal"):
        assert wal.stat().st_mode & 0o077 == 0
    paths = [run.out, *run.out.rglob("*")]
    assert len(paths) > 20
    for p in paths:
        mode = p.stat().st_mode & 0o777
        assert mode == (0o700 if p.is_dir() else 0o600), (p, oct(mode))


def _layout() -> dict[str, list[str]]:
    from safetynet.referrals.config import load_columns_config

    return {code: d.headers for code, d in load_columns_config().departments.items()}


def test_referral_files_carry_only_their_departments_columns_and_no_live_formula(
        run: CliRun) -> None:
    from python_calamine import CalamineWorkbook

    layout = _layout()
    files = [p for p in (run.run_out / "referrals").rglob("转办_*") if p.is_file()]
    assert {p.suffix for p in files} == {".csv", ".xlsx"}
    assert {p.relative_to(run.run_out / "referrals").parts[0] for p in files} >= {
        "civil_affairs", "hrss", "medical_security"}
    formula = re.compile(r"^[=+\-@\t\r]")
    for p in files:
        department = p.relative_to(run.run_out / "referrals").parts[0]
        if p.suffix == ".csv":
            table = list(csv.reader(io.StringIO(p.read_text(encoding="utf-8-sig"))))
        else:
            table = CalamineWorkbook.from_path(str(p)).get_sheet_by_index(0).to_python()
        assert table[0] == layout[department], p
        for row in table[1:]:
            for cell in row:
                assert not (isinstance(cell, str) and formula.match(cell)), (p, cell)
    hrss = layout["hrss"]
    assert "户编号" not in hrss and "所在区划" not in hrss and "关联方式" not in hrss


def test_a_formula_name_in_the_roster_reaches_no_file_as_a_formula(tmp_path: Path) -> None:
    """Defence in depth: a warning whose name looks like a formula is written as text."""
    from openpyxl import load_workbook

    from safetynet.outputs import csv_bytes, xlsx_bytes

    rows = [['=HYPERLINK("http://evil.example","x")', "+1", "-1+2", "@SUM(A1)", "\t=1"]]
    text = csv_bytes(["a", "b", "c", "d", "e"], rows).decode("utf-8-sig")
    assert all(c.startswith("'") for c in next(csv.reader(io.StringIO(text.splitlines()[1]))))
    (tmp_path / "f.xlsx").write_bytes(xlsx_bytes(["a", "b", "c", "d", "e"], rows))
    ws = load_workbook(tmp_path / "f.xlsx").active
    assert all(c.data_type == "s" and c.value.startswith("'") for c in ws[2])


@pytest.mark.db
def test_database_password_from_the_environment_is_never_shown(
        run: CliRun, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A department database that cannot be reached: the run goes on, and neither the log, the
    summary, the warehouse nor the settings saved with the run show the password."""
    from safetynet.pipeline import run_quarter
    from safetynet.settings import RunSettings

    monkeypatch.setenv("SN_PRIVACY_DSN", f"postgresql://postgres:{PASSWORD}@127.0.0.1:1/test")
    data = copy_quarter(run.data.parent, Q3, tmp_path / "data")
    vehicles = source_config("public_security_vehicles")
    vehicles["format"] = "database"
    vehicles["location"] = {"database": {"kind": "postgresql", "dsn_env": "SN_PRIVACY_DSN",
                                         "query": "select * from vehicles"}}
    sources = write_sources(tmp_path / "sources", [
        source_config("civil_affairs_roster"), source_config("civil_affairs_standards"),
        vehicles])
    assert PASSWORD not in "".join(p.read_text(encoding="utf-8") for p in sources.iterdir())
    settings = RunSettings(as_of=Q3, sources_dir=sources, data_dir=data,
                           warehouse=tmp_path / "w.duckdb", out_dir=tmp_path / "out")
    summary = run_quarter(settings)
    (vehicle_load,) = [s for s in summary["sources"] if s["source"] == vehicles["name"]]
    assert vehicle_load["status"] == "missing" and "数据库无法连接" in vehicle_load["error"]
    texts = [json.dumps(summary, ensure_ascii=False),
             (settings.run_out_dir / "run.log").read_text(encoding="utf-8"),
             (settings.run_out_dir / "summary.json").read_text(encoding="utf-8"),
             *warehouse_texts(settings.warehouse).values()]
    assert "数据库无法连接" in texts[1]  # the failure itself is logged
    for text in texts:
        assert PASSWORD not in text and "Pr1vacy" not in text


# ------------------------------------------------------------------ the redaction itself
digits17 = st.builds(
    lambda region, y, m, d, seq: f"{region:06d}{y:04d}{m:02d}{d:02d}{seq:03d}",
    st.integers(110000, 659999), st.integers(1900, 2025), st.integers(1, 12),
    st.integers(1, 28), st.integers(0, 999))
ids18 = digits17.map(lambda b: b + calc_check_digit(b + "0"))
any_id = st.one_of(ids18, ids18.map(str.lower), ids18.map(lambda s: s[:6] + s[8:17]))
around = st.text(alphabet=st.sampled_from("张三，。：: =()[]{}\"'-_/身份证号码\n\t"), max_size=12)


@settings(max_examples=300, deadline=None)
@given(any_id, around, around)
def test_redact_masks_any_id_in_any_text(value: str, before: str, after: str) -> None:
    text = f"{before}{value}{after}"
    red = redact(text)
    assert value not in red
    assert value[:4] in red and value[-4:] in red  # still recognisable to its owner
    assert redact(red) == red


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40).filter(lambda t: not re.search(r"\d{14}[\dXx]", t)))
def test_redact_leaves_text_without_id_numbers_alone(text: str) -> None:
    assert redact(text) == text


@settings(max_examples=200, deadline=None)
@given(any_id, st.text(min_size=1, max_size=6))
def test_masks_never_reveal_more_than_they_promise(value: str, name: str) -> None:
    masked = mask_id(value)
    assert len(masked) == len(value) and masked[4:-4] == "*" * (len(value) - 8)
    shown = mask_name(name)
    assert shown[0] == name[0] and set(shown[1:]) == {"*"}


def test_filter_masks_arguments_exceptions_and_child_loggers(tmp_path: Path) -> None:
    secret_id = "43010219800101123X"
    log = logging.getLogger("safetynet.some.stage")  # a plain child logger, no own filter
    with run_log(tmp_path / "run.log") as path:
        log.info("linked %s to %s", secret_id, "H1")
        try:
            raise ValueError(f"bad id {secret_id.lower()}")
        except ValueError:
            log.exception("stage failed")
        log.warning("id %s", 430102198001011234)  # an int argument
    text = path.read_text(encoding="utf-8")
    assert "4301**********123X" in text and "ValueError" in text
    assert secret_id not in text and secret_id.lower() not in text
    assert "430102198001011234" not in text
    assert path.stat().st_mode & 0o777 == 0o600
    log.info("after the run %s", secret_id)  # the handler is gone with the run
    assert secret_id not in path.read_text(encoding="utf-8")


def test_console_handler_masks_warnings_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    with console_handler():
        logging.getLogger("safetynet.connectors.x").warning("row of %s", "430102198001011234")
    err = capsys.readouterr().err
    assert "4301**********1234" in err and "430102198001011234" not in err


def test_redacting_filter_on_a_foreign_handler() -> None:
    """The filter Prefect's handlers get in a flow run (flows/quarterly.py)."""
    record = logging.LogRecord("prefect.task_runs", logging.ERROR, __file__, 1,
                               "Task failed: %s", ("id 430102198001011234",), None)
    assert RedactingFilter().filter(record) and "4301**********1234" in record.getMessage()


def test_secrets_file_and_dsn_env_are_the_ways_in(tmp_path: Path) -> None:
    """A source config never holds a password in the sample; the DSN comes from env/secrets."""
    for name in ("civil_affairs_roster", "hrss_pension"):
        text = yaml.safe_dump(source_config(name), allow_unicode=True)
        assert "password" not in text.lower() and "dsn:" not in text
    from safetynet.connectors.config import parse_source_config
    from safetynet.connectors.db_reader import resolve_dsn

    secret = tmp_path / "dsn"
    secret.write_text(f"postgresql://u:{PASSWORD}@h/db\n", encoding="utf-8")
    secret.chmod(0o600)
    cfg = parse_source_config({
        "name": "x", "department": "hrss", "table": "pension", "record_key": "k",
        "format": "database",
        "columns": {"name": "n"}, "location": {"database": {
            "kind": "postgresql", "query": "select 1", "secrets_file": str(secret)}}})
    assert resolve_dsn(cfg).endswith("/db") and PASSWORD in resolve_dsn(cfg)
