"""The sample-data generator: determinism, files as departments deliver them, and a truth that
agrees with the files it describes (checked by reading the files back, not the model)."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from collections import Counter, defaultdict
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import chinese_calendar
import pyarrow.parquet as pq
import pytest
import python_calamine
from stdnum.cn import ric

from safetynet.connectors.config import load_source_configs
from safetynet.sample_data import codes
from safetynet.sample_data.generate import generate

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ROOT / "sample_data" / "sources"
Q2, Q3 = "2026-06-30", "2026-09-30"
RULES = ("DEATH_REVIEW", "VEHICLE_OWNED", "PROPERTY_RECENT_PURCHASE", "PROPERTY_MULTIPLE",
         "BUSINESS_REGISTERED", "PENSION_CONTRIBUTING", "GRADUAL_EXIT_DUE",
         "DUPLICATE_ENROLMENT", "SEVERE_DISABILITY_UNCOVERED", "HIGH_MEDICAL_EXPENSE",
         "MAJOR_ILLNESS", "UNEMPLOYED_WORKING_AGE")
HOUSEHOLD_RULES = {"PROPERTY_MULTIPLE", "GRADUAL_EXIT_DUE", "HIGH_MEDICAL_EXPENSE"}


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("sample3000")
    return out, generate(out, persons=3000)


@pytest.fixture(scope="module")
def configs() -> dict:
    return {c.name: c for c in load_source_configs(SOURCES)}


def truth(folder: Path, name: str) -> list[dict[str, str]]:
    with open(folder / "truth" / name, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def read_source(folder: Path, cfg) -> list[dict]:
    """A department file as a list of {header: cell} (cells typed as the file stores them)."""
    path = folder / cfg.path
    if cfg.format == "csv":
        raw = path.read_bytes()
        text = raw.decode("utf-8-sig") if raw.startswith(b"\xef\xbb\xbf") else \
            raw.decode("utf-8") if cfg.encoding == "utf-8" else _decode(raw)
        rows = list(csv.reader(io.StringIO(text, newline="")))
        header, data = rows[cfg.header_row - 1], rows[cfg.header_row:]
    elif cfg.format == "xlsx":
        book = python_calamine.CalamineWorkbook.from_path(str(path))
        rows = book.get_sheet_by_name(cfg.sheet).to_python(skip_empty_area=False)
        header, data = rows[cfg.header_row - 1], rows[cfg.header_row:]
    elif cfg.format == "jsonl":
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    else:
        return pq.read_table(path).to_pylist()
    return [dict(zip(header, r, strict=True)) for r in data]


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("gb18030")


def test_same_seed_gives_identical_bytes_and_another_seed_does_not(tmp_path):
    a = generate(tmp_path / "a", persons=600, seed=11)
    b = generate(tmp_path / "b", persons=600, seed=11)
    generate(tmp_path / "c", persons=600, seed=12)
    assert a == b
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*")
                   if p.is_file())
    assert len(files) == 2 * 15 + 1  # 11 sources + 4 truth files per quarter, plus lifecycle
    for rel in files:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes(), rel
    changed = [rel for rel in files if (tmp_path / "c" / rel).read_bytes() !=
               (tmp_path / "a" / rel).read_bytes()]
    assert len(changed) >= 25


@pytest.mark.parametrize("seed", [11, 12])
def test_a_tiny_single_quarter_sample_is_written(tmp_path, seed):
    # 300 persons, one quarter: some department files are empty (a date column of no rows)
    counts = generate(tmp_path, persons=300, seed=seed, quarters=(Q3,))
    assert not (tmp_path / Q2).exists()
    roster = next((tmp_path / Q3).rglob("*roster*"))
    assert roster.stat().st_size > 0
    assert sum(n for n in _flatten_counts(counts)) > 300


def _flatten_counts(counts: object) -> list[int]:
    if isinstance(counts, dict):
        return [n for v in counts.values() for n in _flatten_counts(v)]
    return [counts] if isinstance(counts, int) else []


def test_chunked_writing_changes_no_content(tmp_path, monkeypatch):
    from safetynet.sample_data import generate as module

    whole = generate(tmp_path / "whole", persons=400, seed=3)
    monkeypatch.setattr(module, "CHUNK_ROWS", 1000)
    chunked = generate(tmp_path / "chunked", persons=400, seed=3)
    assert whole == chunked
    parquet = f"{Q3}/medical_security/settlements.parquet"
    assert pq.read_table(tmp_path / "whole" / parquet).equals(
        pq.read_table(tmp_path / "chunked" / parquet))
    assert pq.ParquetFile(tmp_path / "chunked" / parquet).num_row_groups > 1
    for name in ("records.csv", "links.csv", "warnings.csv"):
        assert (tmp_path / "whole" / Q3 / "truth" / name).read_bytes() == \
            (tmp_path / "chunked" / Q3 / "truth" / name).read_bytes()


def test_summary_counts_the_rows_in_each_file(sample, configs):
    out, summary = sample
    assert set(summary["quarters"]) == {Q2, Q3}
    for as_of, files in summary["quarters"].items():
        folder = out / as_of
        for cfg in configs.values():
            assert len(read_source(folder, cfg)) == files[cfg.path], (as_of, cfg.name)
        records = truth(folder, "records.csv")
        assert len(records) == files["truth/records.csv"]
        department = sum(v for k, v in files.items() if not k.startswith("truth/")
                         and k not in ("civil_affairs/roster.csv", "civil_affairs/standards.csv"))
        assert len(records) == department


def test_files_are_delivered_as_departments_do(sample, configs):
    out, _ = sample
    folder = out / Q3
    cremations = (folder / "civil_affairs/cremations.csv").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        cremations.decode("utf-8")
    cremations.decode("gbk")  # GBK proper, not only gb18030
    assert (folder / "hrss/pension.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    assert b"\r\n" in (folder / "hrss/pension.csv").read_bytes()[:400]
    header = (folder / "hrss/unemployment.csv").read_text(encoding="utf-8").splitlines()[0]
    assert header == "JLBH,SFZHM,XM,XB,CSRQ,DJRQ,ZXRQ,DJZT,XZQH"
    deaths = read_source(folder, configs["health_deaths"])
    book = python_calamine.CalamineWorkbook.from_path(str(folder / "health/death_registrations.xlsx"))
    top = book.get_sheet_by_name("死亡登记").to_python()[:2]
    assert top[0][0].startswith("居民死亡登记信息") and top[1][0].startswith("填报单位")
    styles = Counter(type(r["死亡日期"]).__name__ if not isinstance(r["死亡日期"], str) else
                     ("cn" if "年" in r["死亡日期"] else "slash" if "/" in r["死亡日期"] else
                      "compact" if r["死亡日期"].isdigit() else "other") for r in deaths)
    assert {"date", "cn", "slash", "compact"} <= set(styles), styles
    cert = read_source(folder, configs["disability_federation_certificates"])
    for row in cert:
        number, grade = row["残疾人证号"], codes.DISABILITY_GRADE.get(row["残疾等级"])
        assert len(number) in (17, 20)
        if grade:
            assert number[-1] == str(grade)
            assert number[-2] == codes.DISABILITY_DIGIT[codes.DISABILITY_CATEGORY[row["残疾类别"]]]
    business = read_source(folder, configs["market_regulation_business"])
    from stdnum.cn import uscc
    assert all(uscc.is_valid(r["uniscid"]) for r in business)
    vehicles = read_source(folder, configs["public_security_vehicles"])
    assert {r["号牌种类"] for r in vehicles} <= set(codes.PLATE_TYPE)
    assert {r["残疾人专用车"] for r in vehicles} == {"是", "否"}
    props = read_source(folder, configs["natural_resources_properties"])
    assert all(len(r["不动产单元号"]) == 28 for r in props)
    shared = Counter(r["不动产单元号"] for r in props if r["共有情况"] == "共同共有")
    assert shared and max(shared.values()) == 2  # co-owned units appear once per owner
    roster = read_source(folder, configs["civil_affairs_roster"])
    listed = Counter(r["户编号"] for r in roster)
    staying = Counter(r["户编号"] for r in roster if r["救助状态"] != "已退出")
    assert set(listed.values()) <= set(range(1, 7))
    assert all(int(r["家庭人口数"]) == (staying[r["户编号"]] or listed[r["户编号"]])
               for r in roster)
    recipients = sum(r["救助类别"] in ("低保", "特困供养") for r in roster) / len(roster)
    assert 0.5 < recipients < 0.7
    standards = read_source(folder, configs["civil_affairs_standards"])
    by_county = defaultdict(dict)
    for r in standards:
        by_county[r["区划代码"]][r["城乡类别"]] = float(r["月保障标准"])
        assert 600 <= float(r["月保障标准"]) <= 1100
    assert {r["居住地行政区划代码"][:6] for r in roster} <= set(by_county)
    assert all(v["农村"] < v["城市"] for v in by_county.values())


def test_yaml_value_maps_are_the_code_tables_and_cover_the_files(sample, configs):
    out, _ = sample
    tables = {
        "civil_affairs_roster": {"category": codes.ROSTER_CATEGORY, "status": codes.ROSTER_STATUS,
                                 "relation": codes.RELATION, "urban_rural": codes.URBAN_RURAL},
        "hrss_pension": {"insurance_type": codes.PENSION_TYPE, "status": codes.PENSION_STATUS},
        "hrss_unemployment": {"status": codes.UNEMPLOYMENT_STATUS, "sex": codes.SEX_GB},
        "public_security_vehicles": {
            "status": codes.VEHICLE_STATUS,
            "vehicle_class": {k: v[1] for k, v in codes.VEHICLE_TYPE.items()}},
        "natural_resources_properties": {"usage": codes.PROPERTY_USAGE,
                                         "acquisition_type": codes.ACQUISITION,
                                         "status": codes.PROPERTY_STATUS},
        "market_regulation_business": {"entity_type": codes.ENTITY_TYPE, "role": codes.ROLE,
                                       "entity_status": codes.ENTITY_STATUS},
        "disability_federation_certificates": {"category": codes.DISABILITY_CATEGORY,
                                               "grade": codes.DISABILITY_GRADE,
                                               "status": codes.CERT_STATUS},
    }
    for name in ("civil_affairs_roster", "health_deaths", "civil_affairs_cremations",
                 "disability_federation_certificates"):
        tables.setdefault(name, {})["sex"] = codes.SEX_CN
    for name in ("hrss_pension", "medical_security_settlements"):
        tables.setdefault(name, {})["sex"] = codes.SEX_GB
    for name, maps in tables.items():
        for column, table in maps.items():
            assert configs[name].values[column] == {str(k): v for k, v in table.items()}, \
                (name, column)
    bad = {(r["source"], r["source_record_key"]) for r in truth(out / Q3, "bad_rows.csv")}
    for cfg in configs.values():
        rows = read_source(out / Q3, cfg)
        header = set(rows[0])
        for canonical, src in cfg.columns.items():
            if src.column:
                assert src.column in header, (cfg.name, canonical, src.column)
        assert cfg.record_key in header
        keys = [str(r[cfg.record_key]) for r in rows]
        assert len(set(keys)) == len(keys), cfg.name
        for canonical, table in cfg.values.items():
            column = cfg.columns[canonical].column
            seen = {str(r[column]) for r in rows if r[column] not in (None, "") and
                    (cfg.name, str(r[cfg.record_key])) not in bad}
            assert seen <= set(table), (cfg.name, canonical, seen - set(table))


def test_links_point_at_roster_persons_and_never_at_decoys(sample, configs):
    out, _ = sample
    for as_of in (Q2, Q3):
        folder = out / as_of
        roster_ids = set()
        for r in read_source(folder, configs["civil_affairs_roster"]):
            i = r["身份证号码"]
            roster_ids.add(i if len(i) == 18 else _to18(i))
        records = {(r["source"], r["source_record_key"]): r for r in truth(folder, "records.csv")}
        links = truth(folder, "links.csv")
        bad = {(r["source"], r["source_record_key"]) for r in truth(folder, "bad_rows.csv")}
        assert bad and len(bad) < 0.005 * len(records)
        assert len(links) > 0.5 * len(records)
        for link in links:
            key = (link["source"], link["source_record_key"])
            assert link["id_number"] in roster_ids
            assert records[key]["id_number"] == link["id_number"]
            assert records[key]["decoy_kind"] == ""
            assert key not in bad
        linked = {(r["source"], r["source_record_key"]) for r in links}
        expected = {k for k, r in records.items() if r["id_number"] and k not in bad}
        assert linked == expected
        decoys = Counter(r["decoy_kind"] for r in records.values() if r["decoy_kind"])
        assert decoys["namesake"] >= 20 and decoys["near_id"] >= 20
        assert sum(not r["id_number"] for r in records.values()) / len(records) > 0.25


def _check_ok(id18: str) -> bool:
    """GB 11643 check character (stdnum's is_valid also rejects unknown region codes)."""
    return id18[-1] == ric.calc_check_digit(id18)


def _to18(id15: str) -> str:
    body = id15[:6] + "19" + id15[6:]
    return body + ric.calc_check_digit(body + "0")


def _ids_in_file(folder: Path, cfg) -> dict[str, object]:
    id_col = cfg.columns["id_number"].column
    return {str(r[cfg.record_key]): r[id_col] for r in read_source(folder, cfg)}


def test_noise_labels_match_the_files_and_rates_are_plausible(sample, configs):
    out, _ = sample
    folder = out / Q3
    records = truth(folder, "records.csv")
    kinds = Counter(r["noise_kind"] for r in records)
    assert set(kinds) == {"clean", "legacy15", "lowercase_x", "fullwidth", "spaces_dashes",
                          "apostrophe", "scientific", "typo", "transposition", "missing_id",
                          "traditional", "homophone", "name_spaces", "middle_dot"}
    assert 0.1 < 1 - kinds["clean"] / len(records) < 0.3
    for kind, n in kinds.items():
        if kind not in ("clean", "scientific"):
            assert 0.003 < n / len(records) < 0.05, (kind, n)
    pension = [r for r in records if r["source"] == "hrss_pension"]
    science = sum(r["noise_kind"] == "scientific" for r in pension) / len(pension)
    assert 0.003 < science < 0.05
    checks = {
        "clean": lambda v, i: v == i,
        "legacy15": lambda v, i: v == i[:6] + i[8:17],
        "lowercase_x": lambda v, i: v == i[:17] + "x",
        "fullwidth": lambda v, i: v == i.translate(str.maketrans("0123456789X",
                                                                "０１２３４５６７８９Ｘ")),
        "spaces_dashes": lambda v, i: v.replace(" ", "").replace("-", "") == i and v != i,
        "apostrophe": lambda v, i: v == "'" + i,
        "scientific": lambda v, i: v == format(float(i), ".5E") or
        (isinstance(v, float) and format(Decimal(repr(v)), "f") == i[:15] + "000"),
        "typo": lambda v, i: len(v) == 18 and sum(a != b for a, b in zip(v, i, strict=True)) == 1
        and v[6:14] == i[6:14] and not _check_ok(v),
        "transposition": lambda v, i: sorted(v) == sorted(i) and
        sum(a != b for a, b in zip(v, i, strict=True)) == 2 and not _check_ok(v),
        "missing_id": lambda v, i: v in (None, ""),
    }
    seen = Counter()
    for name in ("health_deaths", "hrss_pension", "hrss_unemployment",
                 "public_security_vehicles", "natural_resources_properties"):
        cells = _ids_in_file(folder, configs[name])
        for r in records:
            if r["source"] == name and r["id_number"] and r["noise_kind"] in checks:
                value = cells[r["source_record_key"]]
                assert checks[r["noise_kind"]](value, r["id_number"]), (name, r, value)
                seen[r["noise_kind"]] += 1
    assert set(seen) == set(checks), seen
    identifiable = Counter((r["identifiable"], r["noise_kind"]) for r in records)
    assert identifiable[("false", "missing_id")] > 0
    assert all(k in ("missing_id", "scientific", "typo", "transposition")
               for (flag, k) in identifiable if flag == "false")


def test_decoys_have_valid_ids_next_to_roster_persons(sample, configs):
    out, _ = sample
    folder = out / Q3
    roster = read_source(folder, configs["civil_affairs_roster"])
    ids = {r["身份证号码"] if len(r["身份证号码"]) == 18 else _to18(r["身份证号码"]) for r in roster}
    people = {(r["姓名"], r["出生日期"], r["居住地行政区划代码"][:6]) for r in roster}
    records = {(r["source"], r["source_record_key"]): r for r in truth(folder, "records.csv")}
    cfg = configs["hrss_pension"]
    rows = read_source(folder, cfg)
    checked = Counter()
    for row in rows:
        rec = records[(cfg.name, row[cfg.record_key])]
        if not rec["decoy_kind"] or rec["noise_kind"] != "clean":
            continue
        value = row["身份证号码"]
        assert _check_ok(value)
        date(int(value[6:10]), int(value[10:12]), int(value[12:14]))  # a real birth date
        assert value not in ids
        if rec["decoy_kind"] == "near_id":
            assert any(sum(a != b for a, b in zip(value[:17], other[:17], strict=True)) == 1 for other in ids)
        else:
            birth = f"{value[6:10]}-{value[10:12]}-{value[12:14]}"
            assert (row["姓名"], birth, row["参保地"]) in people
        checked[rec["decoy_kind"]] += 1
    assert checked["near_id"] and checked["namesake"]


def _working_day_due(as_of: date) -> date:
    day, n = as_of, 0
    while n < 25:
        day += timedelta(days=1)
        n += chinese_calendar.is_workday(day)
    return day


def test_every_rule_fires_with_the_declared_shape(sample):
    out, _ = sample
    for as_of in (Q2, Q3):
        rows = truth(out / as_of, "warnings.csv")
        by_rule = Counter(r["rule_id"] for r in rows)
        assert set(by_rule) == set(RULES)
        assert min(by_rule.values()) >= 10, by_rule
        for rule in ("PENSION_CONTRIBUTING", "HIGH_MEDICAL_EXPENSE"):
            severities = Counter(r["severity"] for r in rows if r["rule_id"] == rule)
            assert severities["high"] and severities["medium"], (rule, severities)
        due = _working_day_due(date.fromisoformat(as_of)).isoformat()
        keys = set()
        for r in rows:
            household = r["rule_id"] in HOUSEHOLD_RULES
            assert bool(r["household_id"]) == household and bool(r["id_number"]) != household
            key = (r["rule_id"], r["id_number"] or r["household_id"])
            assert key not in keys
            keys.add(key)
            if r["rule_id"] != "DEATH_REVIEW":
                assert r["due_date"] == due
            assert r["routes"] in ("civil_affairs", "hrss", "medical_security",
                                   "medical_security;civil_affairs")


def _parse(value) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    for fmt in ("%Y-%m-%d", "%Y/%m/%d", "%Y年%m月%d日", "%Y%m%d", "%Y.%m.%d"):
        try:
            return datetime.strptime(value, fmt).date()
        except ValueError:
            pass
    raise ValueError(value)


def _add_months(d: date, months: int) -> date:
    y, m = divmod(d.month - 1 + months, 12)
    year, month = d.year + y, m + 1
    last = (date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)).day
    return date(year, month, min(d.day, last))


def test_death_and_vehicle_warnings_follow_from_the_files(sample, configs):
    """Re-derive two rules from the delivered files (attribution taken from records.csv)."""
    out, _ = sample
    for as_of in (Q2, Q3):
        folder, day = out / as_of, date.fromisoformat(as_of)
        records = {(r["source"], r["source_record_key"]): r for r in truth(folder, "records.csv")}
        bad = {(r["source"], r["source_record_key"]) for r in truth(folder, "bad_rows.csv")}

        def attributed(cfg, folder=folder, records=records, bad=bad):
            for row in read_source(folder, cfg):
                rec = records[(cfg.name, str(row[cfg.record_key]))]
                if rec["id_number"] and rec["identifiable"] == "true" and \
                        (cfg.name, str(row[cfg.record_key])) not in bad:
                    yield rec["id_number"], row

        roster = read_source(folder, configs["civil_affairs_roster"])
        in_roster = {(r["身份证号码"] if len(r["身份证号码"]) == 18 else _to18(r["身份证号码"])): r
                     for r in roster if r["救助状态"] in ("在保", "渐退期")}
        first_death: dict[str, date] = {}
        after = 0
        for name in ("health_deaths", "civil_affairs_cremations"):
            for pid, row in attributed(configs[name]):
                died = _parse(row["死亡日期"])
                after += died > day
                if died <= day and pid in in_roster:
                    first_death[pid] = min(died, first_death.get(pid, died))
        assert after > 0  # departments extract after as_of
        expected = {(pid, _add_months(d, 3).isoformat()) for pid, d in first_death.items()}
        warnings = truth(folder, "warnings.csv")
        assert expected == {(r["id_number"], r["due_date"]) for r in warnings
                            if r["rule_id"] == "DEATH_REVIEW"}
        recipient_hh = {r["户编号"] for r in in_roster.values() if r["救助类别"] in ("低保", "特困供养")}
        members = {(r["身份证号码"] if len(r["身份证号码"]) == 18 else _to18(r["身份证号码"]))
                   for r in roster if r["救助状态"] in ("在保", "渐退期") and r["户编号"] in recipient_hh}
        cfg = configs["public_security_vehicles"]
        owners = {pid for pid, row in attributed(cfg)
                  if cfg.values["vehicle_class"][row["车辆类型"]] in
                  ("passenger_car", "truck", "motorcycle", "tricycle")
                  and cfg.values["status"][row["机动车状态"]] == "normal"
                  and row["残疾人专用车"] == "否" and _parse(row["初次登记日期"]) <= day
                  and pid in members}
        assert owners == {r["id_number"] for r in warnings if r["rule_id"] == "VEHICLE_OWNED"}


def test_second_quarter_moves_the_first_forward(sample, configs):
    out, _ = sample
    before = {(r["source"], r["source_record_key"]): r for r in truth(out / Q2, "records.csv")}
    after = {(r["source"], r["source_record_key"]): r for r in truth(out / Q3, "records.csv")}
    kept = before.keys() & after.keys()
    assert len(kept) > 0.75 * len(before)  # settlements keep a moving 15-month window
    lasting = [k for k in before if k[0] != "medical_security_settlements"]
    assert sum(k in after for k in lasting) > 0.9 * len(lasting)
    assert all(before[k]["noise_kind"] == after[k]["noise_kind"] for k in kept)
    assert len(after.keys() - before.keys()) > 0.02 * len(after)
    assert len(before.keys() - after.keys()) > 0  # settlements older than 15 months drop out
    roster2 = {r["成员编号"]: r for r in read_source(out / Q2, configs["civil_affairs_roster"])}
    roster3 = {r["成员编号"]: r for r in read_source(out / Q3, configs["civil_affairs_roster"])}
    assert {r["户编号"] for r in roster3.values()} - {r["户编号"] for r in roster2.values()}
    exited = [k for k in roster2.keys() & roster3.keys()
              if roster2[k]["救助状态"] != "已退出" and roster3[k]["救助状态"] == "已退出"]
    assert exited
    with open(out / "truth_lifecycle.csv", encoding="utf-8") as fh:
        life = list(csv.DictReader(fh))
    states = Counter((r["q2"], r["q3"]) for r in life)
    assert states[("1", "1")] > states[("0", "1")] > 0 and states[("1", "0")] > 0
    vehicles = _ids_in_file(out / Q3, configs["public_security_vehicles"])
    status2 = {str(r["机动车序号"]): r["机动车状态"]
               for r in read_source(out / Q2, configs["public_security_vehicles"])}
    status3 = {str(r["机动车序号"]): r["机动车状态"]
               for r in read_source(out / Q3, configs["public_security_vehicles"])}
    assert vehicles and any(status2[k] == "A" and status3[k] in ("E", "P", "B", "M")
                            for k in status2.keys() & status3.keys())


def test_command_line(tmp_path):
    result = subprocess.run([sys.executable, "-m", "safetynet.sample_data", "--out",
                             str(tmp_path), "--persons", "300", "--seed", "5"],
                            capture_output=True, text=True, check=True, cwd=ROOT)
    summary = json.loads(result.stdout)
    assert summary["persons"] == 300 and summary["seed"] == 5
    assert (tmp_path / Q3 / "truth" / "warnings.csv").is_file()
    assert summary["quarters"][Q2]["civil_affairs/roster.csv"] > 250
