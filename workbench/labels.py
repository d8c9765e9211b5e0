"""Simplified Chinese labels of the codes the warehouse stores."""

from __future__ import annotations

from typing import Any

ROLES = {"province": "省级工作人员", "prefecture": "市级工作人员", "county": "县级工作人员",
         "town": "乡镇（街道）工作人员", "department": "部门用户"}
DEPARTMENTS = {
    "civil_affairs": "民政", "hrss": "人力资源社会保障", "medical_security": "医疗保障",
    "disability_federation": "残联", "health": "卫生健康", "housing": "住房城乡建设",
    "public_security": "公安", "market_regulation": "市场监管",
    "natural_resources": "自然资源", "education": "教育", "emergency": "应急管理",
}
SEVERITY = {"high": "高", "medium": "中", "low": "低"}
DIRECTION = {"exit": "退出", "exit_review": "退出核查", "integrity": "数据一致性",
             "discovery": "主动发现"}
STATUS = {"open": "待处理", "in_verification": "核查中", "closed": "已办结"}
STATE = {"new": "新增", "persisting": "持续", "reopened": "再次出现", "resolved": "已消除"}
RESULTS = {"confirmed": "情况属实", "not_confirmed": "情况不属实",
           "wrong_person": "非本人（关联错误）", "assistance_adjusted": "已调整救助",
           "enrolled": "已纳入救助"}
SUBJECT = {"person": "个人", "household": "家庭"}
LINK_STATUS = {"linked": "已关联", "review": "待人工确认", "unlinked": "未关联"}
LINK_METHODS = {"id_exact": "身份证号一致", "id_legacy15": "15位旧身份证号转换后一致",
                "id_repaired": "身份证号修复后一致（一位录入差错）",
                "name_dob_region": "姓名、出生日期、区县一致", "none": "未关联"}
ID_QUALITY = {"valid": "有效", "legacy15": "15位旧号", "check_failed": "校验位错误",
              "bad_date": "出生日期无效", "scientific": "科学计数法（不可恢复）",
              "truncated_excel": "被表格截断", "wrong_length": "位数错误", "missing": "缺失"}
DECISIONS = {"accept": "确认关联", "reject": "否决关联"}
ACTIONS = {"login": "登录", "login_failed": "登录失败", "logout": "退出登录",
           "view_warning": "查看预警（个人信息）", "view_household": "查看家庭链条",
           "export": "导出", "disposition": "录入核查结果", "review_decision": "关联人工确认",
           "view_review_queue": "查看关联确认队列"}
CATEGORY = {"dibao": "低保", "tekun": "特困", "dibao_edge": "低保边缘",
            "rigid_expense": "刚性支出困难", "anti_return": "防返贫监测", "other": "其他"}
ROSTER_STATUS = {"active": "在保", "gradual_exit": "渐退期", "exited": "已退出"}
RELATION = {"head": "户主", "spouse": "配偶", "child": "子女", "parent": "父母",
            "grandchild": "孙子女", "sibling": "兄弟姐妹", "other": "其他"}
TABLES = {"roster": "低保名册", "deaths": "死亡信息", "pension": "养老保险参保",
          "unemployment": "失业登记", "vehicles": "车辆登记", "properties": "不动产登记",
          "business_persons": "市场主体登记", "medical_settlements": "医保结算",
          "disability_certs": "残疾人证", "standards": "低保标准"}

# Field and fact names that appear in evidence and link explanations.
FIELDS = {
    "table": "数据表", "table_name": "数据表", "source": "数据来源", "record_key": "记录编号",
    "method": "关联方式", "link_method": "关联方式", "score": "关联得分", "link_score": "关联得分",
    "id_quality": "身份证号质量", "status": "状态", "age": "年龄", "household_size": "家庭人口",
    "death_date": "死亡日期", "record_type": "记录类型", "vehicle_class": "车辆类型",
    "plate_number": "号牌号码", "plate_type": "号牌种类", "disabled_use": "残疾人专用",
    "registration_date": "登记日期", "unit_number": "不动产单元号", "usage": "用途",
    "acquisition_type": "取得方式", "register_date": "登记日期", "entity_name": "主体名称",
    "credit_code": "统一社会信用代码", "entity_type": "主体类型", "role": "担任职务",
    "entity_status": "主体状态", "established_date": "成立日期",
    "insurance_type": "险种", "contribution_base": "缴费基数（元/月）",
    "contribution_start": "参保日期", "end_date": "终止日期", "settle_date": "结算日期",
    "total_cost": "总费用（元）", "out_of_pocket": "个人自付（元）",
    "major_illness": "重特大疾病", "category": "类别", "grade": "等级",
    "valid_until": "有效期至", "cert_number": "证件号", "local_standard": "当地低保标准（元/月）",
    "declared_income": "申报人均月收入（元）", "threshold": "认定线（元）",
    "out_of_pocket_12m": "近12个月个人自付合计（元）", "property_count": "名下现势住宅（套）",
    "distinct_units": "名下现势住宅（套）", "gradual_exit_start": "渐退开始日期",
    "households": "所在户", "counties": "所在区县", "records": "相关记录",
    "name_key": "姓名比对键", "birth_date": "出生日期", "region_code": "区划代码",
    "candidates": "候选人员", "reason": "说明", "prior": "先验", "weights": "各项权重",
    "comparisons": "逐项比对", "field": "字段", "level": "比对结果", "weight": "权重",
    "name_score": "姓名相似度", "id_number": "身份证号", "name": "姓名",
    "person_id": "人员身份证号", "household_id": "户编号", "sex": "性别",
}
VALUE_LABELS: dict[str, dict[str, str]] = {
    "table": TABLES, "table_name": TABLES, "method": LINK_METHODS, "link_method": LINK_METHODS,
    "id_quality": ID_QUALITY, "category": CATEGORY, "relation": RELATION,
    "vehicle_class": {"passenger_car": "载客汽车", "truck": "载货汽车", "motorcycle": "摩托车",
                      "tricycle": "三轮汽车", "trailer": "挂车", "tractor": "拖拉机",
                      "other": "其他车辆"},
    "usage": {"residential": "住宅", "commercial": "商业", "industrial": "工业",
              "other": "其他用途"},
    "acquisition_type": {"purchase_new": "购买新房", "purchase_second_hand": "购买二手房",
                         "inheritance": "继承", "gift": "赠与", "self_built": "自建",
                         "expropriation_resettlement": "征收安置", "other": "其他方式"},
    "entity_type": {"company": "公司", "sole_proprietorship": "个人独资企业",
                    "individual_business": "个体工商户", "cooperative": "农民专业合作社",
                    "other": "其他主体"},
    "role": {"legal_representative": "法定代表人", "investor": "出资人", "shareholder": "股东",
             "operator": "经营者", "manager": "高管", "supervisor": "监事", "other": "其他"},
    "entity_status": {"active": "存续", "revoked": "吊销", "cancelled": "注销", "other": "其他"},
    "insurance_type": {"enterprise_employee": "企业职工养老保险",
                       "public_institution": "机关事业单位养老保险",
                       "urban_rural_resident": "城乡居民养老保险", "other": "其他"},
    "record_type": {"death_registration": "死亡登记", "cremation": "火化记录"},
    "sex": {"male": "男", "female": "女"},
    # `status` of department records (the table decides which of these occur)
    "status": {"current": "现势", "historical": "历史", "normal": "正常", "transferred": "已转移",
               "stolen": "被盗抢", "seized": "查封", "deregistered": "注销", "scrapped": "报废",
               "contributing": "正常缴费", "suspended": "暂停缴费", "terminated": "终止",
               "receiving": "领取待遇", "valid": "有效", "expired": "已过期",
               "revoked": "已注销", "active": "有效", "ended": "已终止"},
}
_BOOL = {True: "是", False: "否"}


def label(mapping: dict[str, str], code: Any) -> str:
    """The Chinese label of a code, or the code itself when unknown."""
    if code is None:
        return ""
    return mapping.get(str(code), str(code))


def field_label(key: str) -> str:
    """Chinese name of an evidence/explanation field (the key itself when unknown)."""
    return FIELDS.get(key, key)


def value_label(key: str, value: Any) -> str:
    """A field value in Chinese where the code is known."""
    if isinstance(value, bool):
        return _BOOL[value]
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:,.2f}".rstrip("0").rstrip(".") if value % 1 else f"{value:,.0f}"
    return label(VALUE_LABELS.get(key, {}), value)


def routes_label(routes: list[str] | None) -> str:
    """`["hrss", "civil_affairs"]` -> 人力资源社会保障、民政."""
    return "、".join(label(DEPARTMENTS, r) for r in routes or [])
