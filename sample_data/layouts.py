"""File layouts: how each department writes its extract (headers, codes, date styles, noise).

A layout turns a snapshot (snapshots.py) into a ``FileTable``; writers.py puts it on disk. The
headers here are the source columns the YAML configs in ``sources/`` map.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from safetynet.sample_data import codes, noise
from safetynet.sample_data.dates import NEVER, render, to_date, ymd
from safetynet.sample_data.events_life import (
    CERT_CATEGORIES,
    DEATH_CAUSES,
    DEATH_PLACES,
    FUNERAL_HOMES,
    HOSPITALS,
)
from safetynet.sample_data.population import COUNTY_CODES, World

_COUNTY_NAMES = np.array([c[1] for c in codes.COUNTIES], dtype=object)
_PLATE_PREFIX = np.array([c[2] for c in codes.COUNTIES], dtype=object)
_CITY = {"湘A": "长沙市", "湘B": "株洲市", "湘C": "湘潭市", "湘M": "永州市"}


@dataclass
class FileTable:
    """One department file: headers and aligned columns, plus format details."""

    path: str
    fmt: str  # csv | xlsx | jsonl | parquet
    headers: list[str]
    columns: list[Any]
    encoding: str = "utf-8"
    bom: bool = False
    crlf: bool = False
    sheet: str = "Sheet1"
    title_rows: list[list[Any]] = field(default_factory=list)


@dataclass(frozen=True)
class Quarter:
    """The quarter being written: index, as_of and the source's extraction day."""

    index: int
    as_of: int
    extract: int


# Record key per source: prefix, zero-padded width of the sequence, year of `start` in front.
KEY_FORMAT = {
    "health_deaths": ("SW", 7, True), "civil_affairs_cremations": ("HZ", 7, True),
    "hrss_pension": ("YL", 12, False), "hrss_unemployment": ("SY", 10, False),
    "public_security_vehicles": ("43", 12, False),
    "natural_resources_properties": ("BDC", 8, True),
    "market_regulation_business": ("SC", 10, False),
    "medical_security_settlements": ("JS", 14, False),
    "disability_federation_certificates": ("CJ", 10, False),
}


def record_keys(source: str, snap: pd.DataFrame) -> pa.Array:
    """Record keys of a snapshot (stable: derived from the timeline's sequence number)."""
    prefix, width, with_year = KEY_FORMAT[source]
    seq = pc.utf8_lpad(pc.cast(pa.array(snap["seq"].to_numpy()), pa.string()), width, "0")
    parts = [pa.scalar(prefix)]
    if with_year:
        parts.append(pc.cast(pa.array(ymd(snap["start"].to_numpy())[0]), pa.string()))
    return pc.binary_join_element_wise(*parts, seq, "")


def _keys(source: str, snap: pd.DataFrame) -> np.ndarray:
    return np.array(record_keys(source, snap).to_pylist(), dtype=object)


def _sex(world: World, pidx: np.ndarray, table: dict[str, str]) -> np.ndarray:
    labels = codes.inverse(table)
    return np.where(world.female[pidx], labels["female"], labels["male"]).astype(object)


def _bad(columns: dict[str, Any], snap: pd.DataFrame, spec: tuple[tuple[str, str, str], ...]
         ) -> None:
    bad = snap["bad"].to_numpy()
    for i, (header, _kind, value) in enumerate(spec, start=1):
        hit = np.flatnonzero(bad == i)
        if len(hit):
            col = np.asarray(columns[header], dtype=object).copy()
            col[hit] = value
            columns[header] = col


def _table(path: str, fmt: str, columns: dict[str, Any], **kw: Any) -> FileTable:
    return FileTable(path=path, fmt=fmt, headers=list(columns), columns=list(columns.values()),
                     **kw)


def _dates(days: np.ndarray) -> np.ndarray:
    """Excel date cells (None for no date)."""
    return np.array([None if d >= NEVER else to_date(d) for d in np.asarray(days).tolist()],
                    dtype=object)


def roster(world: World, frame: pd.DataFrame) -> FileTable:
    """civil_affairs/roster.csv: one row per person and household (UTF-8, no BOM)."""
    pidx = frame["pidx"].to_numpy()
    ids = world.id18[pidx].copy()
    legacy = frame["legacy"].to_numpy()
    ids[legacy] = [s[:6] + s[8:17] for s in ids[legacy].tolist()]
    inv = {k: codes.inverse(t) for k, t in (("cat", codes.ROSTER_CATEGORY),
                                           ("status", codes.ROSTER_STATUS),
                                           ("rel", codes.RELATION), ("ur", codes.URBAN_RURAL))}
    from safetynet.sample_data.population import RELATIONS

    cols = {
        "成员编号": frame["record_key"].to_numpy(),
        "户编号": frame["household_id"].to_numpy(),
        "身份证号码": ids,
        "姓名": world.name[pidx],
        "性别": _sex(world, pidx, codes.SEX_CN),
        "出生日期": render(world.birth[pidx], "iso"),
        "与户主关系": np.array([inv["rel"][RELATIONS[r]] for r in frame["relation"].tolist()],
                          dtype=object),
        "居住地行政区划代码": world.hh_region[frame["hh"].to_numpy()],
        "城乡属性": np.where(frame["urban"].to_numpy(), inv["ur"]["urban"], inv["ur"]["rural"]),
        "救助类别": frame["category"].map(inv["cat"]).to_numpy(),
        "救助状态": frame["status"].map(inv["status"]).to_numpy(),
        "救助开始日期": render(frame["assistance_start"].to_numpy(), "iso"),
        "渐退开始日期": render(frame["gradual_exit_start"].to_numpy(), "iso"),
        "家庭人口数": frame["household_size"].astype(str).to_numpy(),
        "家庭月人均收入": frame["declared_income"].map(lambda v: f"{v:.0f}").to_numpy(),
    }
    return _table("civil_affairs/roster.csv", "csv", cols)


def standards(world: World, q: int) -> FileTable:
    """civil_affairs/standards.csv: monthly dibao standard per county and urban/rural."""
    rows = []
    for c, (code, name, _plate, _u) in enumerate(codes.COUNTIES):
        for j, label in enumerate(("城市", "农村")):
            rows.append((f"{code}-{j + 1}", code, name, label,
                         f"{world.standards[q, c, j]:.0f}"))
    cols = dict(zip(("编号", "区划代码", "区划名称", "城乡类别", "月保障标准"),
                    map(list, zip(*rows, strict=True)), strict=True))
    return _table("civil_affairs/standards.csv", "csv", cols)


DEATH_BAD = (("死亡日期", "unparseable_date", codes.BAD_VALUES["unparseable_date"]),)


def health_deaths(world: World, snap: pd.DataFrame, qt: Quarter) -> FileTable:
    """health/death_registrations.xlsx: title rows, header on row 3, mixed date styles."""
    pidx, nz, par = snap["pidx"].to_numpy(), snap["noise"].to_numpy(), snap["param"].to_numpy()
    death = snap["death"].to_numpy()
    style = snap["date_style"].to_numpy()
    death_cells = _dates(death)
    for s, name in ((1, "slash"), (2, "cn"), (3, "compact")):
        hit = style == s
        death_cells[hit] = render(death[hit], name)
    cols = {
        "登记编号": _keys("health_deaths", snap),
        "姓名": noise.name_values(world, pidx, nz, par),
        "性别": _sex(world, pidx, codes.SEX_CN),
        "身份证件号码": noise.id_values(world, pidx, nz, par, excel_numbers=True),
        "出生日期": _dates(world.birth[pidx]),
        "户籍地址区划": world.region[pidx],
        "死亡日期": death_cells,
        "死亡原因": np.array(DEATH_CAUSES, dtype=object)[snap["cause"].to_numpy()],
        "死亡地点": np.array(DEATH_PLACES, dtype=object)[snap["place"].to_numpy()],
    }
    _bad(cols, snap, DEATH_BAD)
    extract = to_date(qt.extract)
    titles = [[f"居民死亡登记信息（{to_date(qt.as_of).year}年第{(to_date(qt.as_of).month + 2) // 3}"
               f"季度比对用）"], [f"填报单位：市卫生健康委员会    导出日期：{extract.isoformat()}"]]
    return _table("health/death_registrations.xlsx", "xlsx", cols, sheet="死亡登记",
                  title_rows=titles)


CREMATION_BAD = (("死亡日期", "unparseable_date", "2026-02-30"),)


def cremations(world: World, snap: pd.DataFrame, qt: Quarter) -> FileTable:
    """civil_affairs/cremations.csv: GBK-encoded, dotted dates."""
    pidx, nz, par = snap["pidx"].to_numpy(), snap["noise"].to_numpy(), snap["param"].to_numpy()
    cols = {
        "火化证明编号": _keys("civil_affairs_cremations", snap),
        "逝者姓名": noise.name_values(world, pidx, nz, par, gbk=True),
        "性别": _sex(world, pidx, codes.SEX_CN),
        "公民身份号码": noise.id_values(world, pidx, nz, par),
        "出生日期": render(world.birth[pidx], "dotted"),
        "户籍地址代码": world.region[pidx],
        "死亡日期": render(snap["death"].to_numpy(), "dotted"),
        "火化日期": render(snap["start"].to_numpy(), "dotted"),
        "承办殡仪馆": np.array([FUNERAL_HOMES[p] for p in _PLATE_PREFIX[world.county[pidx]]],
                          dtype=object),
    }
    _bad(cols, snap, CREMATION_BAD)
    return _table("civil_affairs/cremations.csv", "csv", cols, encoding="gbk")


PENSION_BAD = (("缴费状态", "unknown_code", codes.BAD_VALUES["unknown_code"]["pension"]),
               ("缴费基数", "not_a_number", codes.BAD_VALUES["not_a_number"]))


def pension(world: World, snap: pd.DataFrame, qt: Quarter) -> FileTable:
    """hrss/pension.csv: Excel-exported (BOM, CRLF), codes for type and status."""
    pidx, nz, par = snap["pidx"].to_numpy(), snap["noise"].to_numpy(), snap["param"].to_numpy()
    type_code = codes.inverse(codes.PENSION_TYPE)
    status_code = codes.inverse(codes.PENSION_STATUS)
    base = snap["base"].to_numpy()
    thousands = snap["thousands"].to_numpy()
    base_text = np.array(["" if np.isnan(b) else (f"{b:,.2f}" if t else f"{b:.0f}"
                                                  if b == int(b) else f"{b:.2f}")
                          for b, t in zip(base.tolist(), thousands.tolist(), strict=True)],
                         dtype=object)
    cols = {
        "参保记录号": _keys("hrss_pension", snap),
        "身份证号码": noise.id_values(world, pidx, nz, par),
        "姓名": noise.name_values(world, pidx, nz, par),
        "性别": _sex(world, pidx, codes.SEX_GB),
        "出生日期": render(world.birth[pidx], "compact"),
        "参保地": COUNTY_CODES[world.county[pidx]],
        "险种类型": snap["insurance_type"].map(type_code).to_numpy(),
        "缴费状态": snap["status"].map(status_code).to_numpy(),
        "缴费基数": base_text,
        "参保日期": render(snap["start"].to_numpy(), "compact"),
    }
    _bad(cols, snap, PENSION_BAD)
    return _table("hrss/pension.csv", "csv", cols, bom=True, crlf=True)


UNEMPLOYMENT_BAD = (("DJZT", "unknown_code", codes.BAD_VALUES["unknown_code"]["unemployment"]),
                    ("DJRQ", "unparseable_date", "20261340"))


def unemployment(world: World, snap: pd.DataFrame, qt: Quarter) -> FileTable:
    """hrss/unemployment.csv: pinyin-abbreviation headers, compact dates."""
    pidx, nz, par = snap["pidx"].to_numpy(), snap["noise"].to_numpy(), snap["param"].to_numpy()
    status_code = codes.inverse(codes.UNEMPLOYMENT_STATUS)
    cols = {
        "JLBH": _keys("hrss_unemployment", snap),
        "SFZHM": noise.id_values(world, pidx, nz, par),
        "XM": noise.name_values(world, pidx, nz, par),
        "XB": _sex(world, pidx, codes.SEX_GB),
        "CSRQ": render(world.birth[pidx], "compact"),
        "DJRQ": render(snap["start"].to_numpy(), "compact"),
        "ZXRQ": render(snap["end_date"].to_numpy(), "compact"),
        "DJZT": snap["status"].map(status_code).to_numpy(),
        "XZQH": world.region[pidx],
    }
    _bad(cols, snap, UNEMPLOYMENT_BAD)
    return _table("hrss/unemployment.csv", "csv", cols)


VEHICLE_BAD = (("机动车状态", "unknown_code", codes.BAD_VALUES["unknown_code"]["vehicles"]),)


def _plate_type(vtype: np.ndarray, new_energy: np.ndarray) -> np.ndarray:
    first = np.array([v[0] for v in vtype.tolist()], dtype=object)
    out = np.select([vtype == "K11", first == "K", vtype == "H11", first == "H",
                     (vtype == "M21") | (vtype == "M11"), vtype == "M22", vtype == "B11"],
                    ["01", "02", "01", "02", "07", "08", "15"], "13").astype(object)
    return np.where((out == "02") & new_energy, "52", out).astype(object)


def vehicles(world: World, snap: pd.DataFrame, qt: Quarter) -> FileTable:
    """public_security/vehicles.csv: GA codes for plate type, vehicle type and status."""
    pidx, nz, par = snap["pidx"].to_numpy(), snap["noise"].to_numpy(), snap["param"].to_numpy()
    vtype = snap["vtype"].to_numpy()
    cols = {
        "机动车序号": _keys("public_security_vehicles", snap),
        "号牌种类": _plate_type(vtype, snap["new_energy"].to_numpy()),
        "号牌号码": snap["plate"].to_numpy(),
        "车辆类型": vtype,
        "所有人": noise.name_values(world, pidx, nz, par),
        "身份证明号码": noise.id_values(world, pidx, nz, par),
        "住所行政区划": COUNTY_CODES[world.county[pidx]],
        "初次登记日期": render(snap["start"].to_numpy(), "iso"),
        "机动车状态": snap["status_code"].to_numpy(),
        "残疾人专用车": np.where(snap["disabled"].to_numpy(), "是", "否").astype(object),
    }
    _bad(cols, snap, VEHICLE_BAD)
    return _table("public_security/vehicles.csv", "csv", cols)


PROPERTY_BAD = (("用途", "unknown_code", codes.BAD_VALUES["unknown_code"]["properties"]),)
_USAGE_LABEL = {"residential": ("住宅", "成套住宅"), "commercial": ("商业服务",),
                "industrial": ("工业",), "other": ("车库", "其他")}
_ACQ_LABEL = {"expropriation_resettlement": ("征收安置", "拆迁安置")}


def unit_numbers(world: World, snap: pd.DataFrame) -> np.ndarray:
    """28-character real-estate unit numbers (不动产单元号)."""
    owner_county = COUNTY_CODES[world.county[snap["pidx"].to_numpy()]]
    zone = np.where(snap["self_built_rural"].to_numpy(), "JC", "GB")
    unit = snap["unit"].to_numpy()
    return np.array([f"{c}{t:03d}{s:03d}{z}{u // 50 + 1:05d}F{b:04d}{u % 50 + 1:04d}"
                     for c, t, s, z, u, b in zip(owner_county.tolist(),
                                                 snap["town"].tolist(),
                                                 snap["subzone"].tolist(), zone.tolist(),
                                                 unit.tolist(), snap["building"].tolist(),
                                                 strict=True)], dtype=object)


def properties(world: World, snap: pd.DataFrame, qt: Quarter) -> FileTable:
    """natural_resources/properties.xlsx: title row, header on row 2, one row per owner."""
    pidx, nz, par = snap["pidx"].to_numpy(), snap["noise"].to_numpy(), snap["param"].to_numpy()
    inv_acq = codes.inverse(codes.ACQUISITION)
    pick = snap["param"].to_numpy() % 2
    usage = np.array([_USAGE_LABEL[u][p % len(_USAGE_LABEL[u])] for u, p in
                      zip(snap["usage"].tolist(), pick.tolist(), strict=True)], dtype=object)
    acq = np.array([_ACQ_LABEL[a][p] if a in _ACQ_LABEL else inv_acq[a] for a, p in
                    zip(snap["acq"].tolist(), pick.tolist(), strict=True)], dtype=object)
    county = world.county[pidx]
    year = ymd(snap["start"].to_numpy())[0]
    city = np.array([_CITY[p] for p in _PLATE_PREFIX[county].tolist()], dtype=object)
    certs = np.array([f"湘({y}){c}不动产权第{u + 1:07d}号" if y >= 2016 else
                      f"{c[:-1]}房权证字第{u + 1:07d}号"  # before unified registration
                      for y, c, u in zip(year.tolist(), city.tolist(), snap["unit"].tolist(),
                                         strict=True)], dtype=object)
    where = np.array([f"{_COUNTY_NAMES[c]}{codes.TOWNS[t - 1]}{b}栋{u % 50 + 1}号" for c, t, b, u in
                      zip(county.tolist(), snap["town"].tolist(), snap["building"].tolist(),
                          snap["unit"].tolist(), strict=True)], dtype=object)
    cols = {
        "业务号": _keys("natural_resources_properties", snap),
        "不动产单元号": unit_numbers(world, snap),
        "不动产权证号": certs,
        "权利人": noise.name_values(world, pidx, nz, par),
        "证件种类": np.full(len(snap), "居民身份证", dtype=object),
        "证件号码": noise.id_values(world, pidx, nz, par),
        "共有情况": np.where(snap["shared"].to_numpy(), "共同共有", "单独所有").astype(object),
        "坐落": where,
        "用途": usage,
        "权利取得方式": acq,
        "登簿时间": _dates(snap["start"].to_numpy()),
        "权属状态": np.where(snap["status"].to_numpy() == "current", "现势", "历史")
        .astype(object),
    }
    _bad(cols, snap, PROPERTY_BAD)
    extract = to_date(qt.extract)
    titles = [[f"不动产登记权利人信息（截至{extract.year}年{extract.month}月{extract.day}日）"]]
    return _table("natural_resources/properties.xlsx", "xlsx", cols, sheet="不动产登记",
                  title_rows=titles)


BUSINESS_BAD = (("regstate", "unknown_code", codes.BAD_VALUES["unknown_code"]["business"]),)
_WORDS = ("鑫源", "恒通", "兴旺", "宏达", "顺发", "金穗", "湘丰", "华盛", "福满", "瑞祥")
_TRADES = {"个体工商户": ("便利店", "小吃店", "五金店", "理发店", "农资店", "副食店"),
           "个人独资企业": ("商贸中心", "建材经营部", "养殖场"),
           "农民专业合作社": ("种植专业合作社", "养殖专业合作社", "农机专业合作社"),
           "普通合伙企业": ("咨询中心（普通合伙）", "商贸行（普通合伙）")}
_ORG_W = (3, 7, 9, 10, 5, 8, 4, 2)


def credit_code(prefix: str, county: str, serial: int) -> str:
    """A unified social credit code valid under GB 32100 (check character via python-stdnum)."""
    from stdnum.cn import uscc

    body = f"{serial % 10**8:08d}"
    c = 11 - sum(int(d) * w for d, w in zip(body, _ORG_W, strict=True)) % 11
    org = body + ("X" if c == 10 else "0" if c == 11 else str(c))
    code = prefix + county + org
    return code + uscc.calc_check_digit(code)


def business(world: World, snap: pd.DataFrame, qt: Quarter) -> list[dict[str, Any]]:
    """market_regulation/business_persons.jsonl records (one JSON object per line)."""
    pidx, nz, par = snap["pidx"].to_numpy(), snap["noise"].to_numpy(), snap["param"].to_numpy()
    ids = noise.id_values(world, pidx, nz, par)
    names = noise.name_values(world, pidx, nz, par)
    county = world.county[pidx]
    est = render(snap["start"].to_numpy(), "iso")
    bad = snap["bad"].to_numpy()
    record_id = _keys("market_regulation_business", snap)
    out = []
    for i, row in enumerate(snap[["seq", "etype", "role", "status_label", "words", "pidx"]]
                            .itertuples(index=False)):
        seq, etype, role, status, words, p = row
        ccode = COUNTY_CODES[county[i]]
        if etype.startswith(("有限", "股份")):
            prefix = "91"
            name = f"湖南{_WORDS[words % 10]}{_WORDS[(words // 10) % 10]}{'农业科技' if words % 3 else '商贸'}" \
                   f"有限公司"
        else:
            prefix = {"个体工商户": "92", "农民专业合作社": "93"}.get(etype, "91")
            trades = _TRADES[etype]
            owner = world.name[p] if etype == "个体工商户" else _WORDS[words % 10]
            name = f"{_COUNTY_NAMES[county[i]]}{owner}{trades[(words // 10) % len(trades)]}"
        out.append({
            "record_id": record_id[i],
            "uniscid": credit_code(prefix, ccode, 1_000_003 * int(seq) + words),
            "entname": name, "enttype": etype, "estdate": est[i],
            "regstate": BUSINESS_BAD[0][2] if bad[i] else status,
            "name": names[i], "cerno": ids[i], "position": role, "dom_admdiv": ccode,
        })
    return out


def settlements(world: World, snap: pd.DataFrame, qt: Quarter) -> pa.Table:
    """medical_security/settlements.parquet: national medical-insurance field names."""
    pidx, nz, par = snap["pidx"].to_numpy(), snap["noise"].to_numpy(), snap["param"].to_numpy()
    setl_id = record_keys("medical_security_settlements", snap)
    psn_no = pc.binary_join_element_wise(
        "43", pc.utf8_lpad(pc.cast(pa.array(pidx + 1), pa.string()), 14, "0"), "")
    def pick(values, index):
        return pa.array(list(values), pa.string()).take(pa.array(index))

    certno, psn_name = noise.arrow_cells(world, pidx, nz, par)
    return pa.table({
        "setl_id": setl_id,
        "psn_no": psn_no,
        "certno": certno,
        "psn_name": psn_name,
        "gend": pick(("1", "2"), world.female[pidx].astype(np.int8)),
        "brdy": pa.array(world.birth[pidx].astype("int32"), type=pa.int32()).cast(pa.date32()),
        "insuplc_admdvs": pick(COUNTY_CODES, world.county[pidx]),
        "setl_time": pa.array(snap["start"].to_numpy().astype("int32")).cast(pa.date32()),
        "medfee_sumamt": pa.array(snap["total"].to_numpy(), type=pa.float64()),
        "psn_part_amt": pa.array(snap["oop"].to_numpy(), type=pa.float64()),
        "major_dise_flag": pick(("0", "1"), snap["major"].to_numpy().astype(np.int8)),
        "fixmedins_name": pick(HOSPITALS, snap["hospital"].to_numpy()),
    })


CERT_BAD = (("残疾等级", "unknown_code", codes.BAD_VALUES["unknown_code"]["disability"]),)


def certificates(world: World, snap: pd.DataFrame, qt: Quarter) -> FileTable:
    """disability_federation/certificates.csv: certificate number = ID + category + grade."""
    pidx, nz, par = snap["pidx"].to_numpy(), snap["noise"].to_numpy(), snap["param"].to_numpy()
    category = np.array(CERT_CATEGORIES)[snap["category"].to_numpy()]
    grade = snap["grade"].to_numpy()
    ids = noise.id_values(world, pidx, nz, par)
    cert = np.array([f"{i}{codes.DISABILITY_DIGIT[c]}{g}" for i, c, g in
                     zip(ids.tolist(), category.tolist(), grade.tolist(), strict=True)],
                    dtype=object)
    inv_cat = codes.inverse(codes.DISABILITY_CATEGORY)
    inv_grade = {v: k for k, v in codes.DISABILITY_GRADE.items()}
    inv_status = codes.inverse(codes.CERT_STATUS)
    cols = {
        "记录ID": _keys("disability_federation_certificates", snap),
        "残疾人证号": cert,
        "姓名": noise.name_values(world, pidx, nz, par),
        "性别": _sex(world, pidx, codes.SEX_CN),
        "出生日期": render(world.birth[pidx], "iso"),
        "户籍地区划": world.region[pidx],
        "残疾类别": np.array([inv_cat[c] for c in category.tolist()], dtype=object),
        "残疾等级": np.array([inv_grade[g] for g in grade.tolist()], dtype=object),
        "证件状态": snap["status"].map(inv_status).to_numpy(),
        "有效期至": render(snap["valid_until"].to_numpy(), "iso"),
        "发证日期": render(snap["start"].to_numpy(), "iso"),
    }
    _bad(cols, snap, CERT_BAD)
    return _table("disability_federation/certificates.csv", "csv", cols)

