"""Code tables of the sample departments: the values written into the files and what they mean.

Each table maps a source value (what the department writes) to the canonical value of
docs/architecture.md. The YAML configs in ``sources/`` carry the same maps as ``values:``;
tests/test_sample_data.py checks that both agree, so a code is never defined twice by accident.
"""

from __future__ import annotations

# Roster counties (6-digit codes, Hunan) with name, prefecture plate letter and urban share.
COUNTIES: tuple[tuple[str, str, str, float], ...] = (
    ("430102", "芙蓉区", "湘A", 0.95),
    ("430104", "岳麓区", "湘A", 0.85),
    ("430111", "雨花区", "湘A", 0.9),
    ("430121", "长沙县", "湘A", 0.35),
    ("430181", "浏阳市", "湘A", 0.3),
    ("430182", "宁乡市", "湘A", 0.3),
    ("430202", "荷塘区", "湘B", 0.85),
    ("430223", "攸县", "湘B", 0.25),
    ("430281", "醴陵市", "湘B", 0.35),
    ("430321", "湘潭县", "湘C", 0.25),
    ("430381", "湘乡市", "湘C", 0.3),
    ("431102", "零陵区", "湘M", 0.6),
)
COUNTY_WEIGHTS: tuple[float, ...] = (6, 8, 9, 10, 11, 10, 6, 8, 8, 9, 8, 7)
# Counties where people were born (ID prefix) but which hold no roster households.
BIRTH_ONLY_COUNTIES: tuple[str, ...] = ("430602", "431002", "360426", "420106", "440106",
                                        "510104", "433101")
# Minority (Uyghur) names carry a Xinjiang birth county in the ID.
MINORITY_BIRTH_COUNTIES: tuple[str, ...] = ("653101", "650102", "652901")
TOWNS: tuple[str, ...] = ("城关街道", "东湖街道", "建设街道", "新华街道", "金桥镇", "白沙镇",
                          "黄花镇", "清水镇", "石门乡", "龙田镇", "青山镇", "花桥乡", "大屯营镇",
                          "泉塘街道", "洞井街道")

SEX_CN = {"男": "male", "女": "female"}
SEX_GB = {"1": "male", "2": "female"}  # GB/T 2261.1
URBAN_RURAL = {"城市": "urban", "农村": "rural"}

ROSTER_CATEGORY = {"低保": "dibao", "特困供养": "tekun", "低保边缘": "dibao_edge",
                   "刚性支出困难": "rigid_expense", "防止返贫监测": "anti_return", "其他": "other"}
ROSTER_STATUS = {"在保": "active", "渐退期": "gradual_exit", "已退出": "exited"}
RELATION = {"户主": "head", "配偶": "spouse", "子女": "child", "父母": "parent",
            "孙子女": "grandchild", "兄弟姐妹": "sibling", "其他": "other"}

PENSION_TYPE = {"110": "enterprise_employee", "120": "public_institution",
                "170": "urban_rural_resident"}
PENSION_STATUS = {"1": "contributing", "2": "suspended", "3": "terminated", "4": "receiving"}
UNEMPLOYMENT_STATUS = {"1": "active", "2": "ended"}

# GA 802 vehicle type codes -> vehicle_class.
VEHICLE_TYPE = {
    "K33": ("轿车", "passenger_car"),
    "K31": ("小型普通客车", "passenger_car"),
    "K32": ("小型越野客车", "passenger_car"),
    "K11": ("大型普通客车", "passenger_car"),
    "H11": ("重型普通货车", "truck"),
    "H31": ("轻型普通货车", "truck"),
    "H41": ("微型普通货车", "truck"),
    "M21": ("普通二轮摩托车", "motorcycle"),
    "M22": ("轻便二轮摩托车", "motorcycle"),
    "M11": ("普通正三轮摩托车", "motorcycle"),
    "N11": ("三轮汽车", "tricycle"),
    "B11": ("重型普通半挂车", "trailer"),
    "T11": ("大型轮式拖拉机", "tractor"),
    "T21": ("小型轮式拖拉机", "tractor"),
    "J11": ("轮式装载机械", "other"),
}
# GA 24 plate types.
PLATE_TYPE = {"01": "大型汽车", "02": "小型汽车", "07": "普通摩托车", "08": "轻便摩托车",
              "13": "低速车", "15": "挂车", "52": "小型新能源汽车"}
# Vehicle status (GA 机动车状态). `normal` = the owner still holds a usable vehicle: 正常, plus
# administrative flags that do not take it away (违法未处理 G, 事故未处理 I, 逾期未检验 Q, their
# combination GQ, and 停驶 D, a voluntary lay-up). Everything that ends ownership or use is not.
VEHICLE_STATUS = {
    "A": "normal", "D": "normal", "G": "normal", "I": "normal", "Q": "normal", "GQ": "normal",
    "B": "transferred", "C": "stolen", "K": "seized", "L": "seized", "E": "deregistered",
    "M": "deregistered", "P": "scrapped", "H": "other", "N": "other",
}

PROPERTY_USAGE = {"住宅": "residential", "成套住宅": "residential", "商业服务": "commercial",
                  "工业": "industrial", "车库": "other", "其他": "other"}
ACQUISITION = {"新建商品房买卖": "purchase_new", "二手房买卖": "purchase_second_hand",
               "继承": "inheritance", "赠与": "gift", "自建": "self_built",
               "征收安置": "expropriation_resettlement", "拆迁安置": "expropriation_resettlement",
               "其他": "other"}
PROPERTY_STATUS = {"现势": "current", "历史": "historical"}

ENTITY_TYPE = {"有限责任公司(自然人投资或控股)": "company", "股份有限公司(非上市)": "company",
               "个人独资企业": "sole_proprietorship", "个体工商户": "individual_business",
               "农民专业合作社": "cooperative", "普通合伙企业": "other"}
ROLE = {"法定代表人": "legal_representative", "投资人": "investor", "股东": "shareholder",
        "经营者": "operator", "经理": "manager", "监事": "supervisor",
        "执行事务合伙人": "other", "成员": "other"}
ENTITY_STATUS = {"存续（在营、开业、在册）": "active", "吊销": "revoked", "注销": "cancelled",
                 "迁出": "other"}

DISABILITY_CATEGORY = {"视力残疾": "visual", "听力残疾": "hearing", "言语残疾": "speech",
                       "肢体残疾": "physical", "智力残疾": "intellectual", "精神残疾": "mental",
                       "多重残疾": "multiple"}
# Category digit inside the certificate number (19th character), same order as above.
DISABILITY_DIGIT = {"visual": "1", "hearing": "2", "speech": "3", "physical": "4",
                    "intellectual": "5", "mental": "6", "multiple": "7"}
DISABILITY_GRADE = {"一级": 1, "二级": 2, "三级": 3, "四级": 4}
CERT_STATUS = {"有效": "valid", "过期": "expired", "注销": "revoked"}

# Source values written on purpose into a few bad rows; none of them is in the maps above.
BAD_VALUES = {
    "unknown_code": {"pension": "9", "unemployment": "5", "vehicles": "Z",
                     "properties": "待定", "business": "异常", "disability": "五级"},
    "unparseable_date": "日期不详",
    "not_a_number": "待核定",
}


def inverse(table: dict[str, str]) -> dict[str, str]:
    """canonical value -> first source value that maps to it."""
    out: dict[str, str] = {}
    for source_value, canonical in table.items():
        out.setdefault(canonical, source_value)
    return out
