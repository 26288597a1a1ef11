"""Labels in English and Chinese (``govcloud tui --lang zh|en``). Department and city names
are data, not labels: they always show in Chinese with English alongside."""

from __future__ import annotations

LANGS = ("en", "zh")

_LABELS: dict[str, tuple[str, str]] = {
    # views
    "overview": ("Overview", "总览"),
    "departments": ("Departments", "部门"),
    "department": ("Department", "部门详情"),
    "sites": ("Sites", "数据中心"),
    "hypervisors": ("Hypervisors", "宿主机"),
    "host": ("Hypervisor", "宿主机"),
    "servers": ("Servers", "云主机"),
    "server": ("Server", "云主机详情"),
    "whatif": ("Capacity what-if", "容量推演"),
    "audit": ("Audit", "审计"),
    "help": ("Help", "帮助"),
    # header
    "server_url": ("server", "服务"),
    "site_in_view": ("site", "站点"),
    "all_sites": ("all sites", "全部站点"),
    "stale": ("STALE", "数据过期"),
    "never": ("never synced", "未同步"),
    "ok": ("ok", "正常"),
    "read_only": ("read-only", "只读"),
    # columns and words
    "site": ("SITE", "站点"),
    "role": ("ROLE", "角色"),
    "name": ("NAME", "名称"),
    "code": ("CODE", "代码"),
    "name_zh": ("中文名", "中文名"),
    "name_en": ("ENGLISH NAME", "英文名"),
    "dr": ("DR", "灾备"),
    "status": ("STATUS", "状态"),
    "state": ("STATE", "运行"),
    "flavor": ("FLAVOR", "规格"),
    "hostname": ("HOST", "宿主机"),
    "zone": ("AZ", "可用区"),
    "dept": ("DEPARTMENT", "部门"),
    "vcpu": ("vCPU", "vCPU"),
    "ram": ("RAM", "内存"),
    "disk": ("DISK", "磁盘"),
    "count": ("SERVERS", "云主机数"),
    "last_change": ("LAST CHANGE", "最近变更"),
    "quota_use": ("QUOTA USE", "配额使用"),
    "created": ("CREATED", "创建时间"),
    "seq": ("SEQ", "序号"),
    "at": ("AT", "时间"),
    "actor": ("ACTOR", "操作者"),
    "action": ("ACTION", "动作"),
    "target": ("TARGET", "对象"),
    "capacity": ("capacity", "容量"),
    "allocated": ("allocated", "已分配"),
    "headroom": ("headroom", "可用余量"),
    "used": ("used", "已使用"),
    "alloc": ("alloc", "已分配"),
    "free": ("free", "空闲"),
    "of": ("of", "共"),
    "hosts_up": ("hypervisors up", "宿主机在线"),
    "services_down": ("compute services down", "计算服务异常"),
    "closest_quota": ("Departments closest to their quotas", "最接近配额的部门"),
    "flavor_fit": ("More of these fit", "还可容纳"),
    "lose_verdict": ("If PROD is lost", "若生产中心失效"),
    "fits": ("YES — the receiving sites have room", "可以接管 — 接收站点容量充足"),
    "short": ("NO — not enough room", "不能接管 — 容量不足"),
    "loading": ("loading…", "加载中…"),
    "unreachable": ("control plane unreachable", "控制面不可达"),
    "retrying": ("retrying in", "重试倒计时"),
    "filter": ("filter", "过滤"),
    "rows": ("rows", "行"),
    "verified": ("chain verified", "审计链校验通过"),
    "broken": ("CHAIN BROKEN", "审计链被破坏"),
    "no_capacity_rights": ("your role cannot see site capacity", "您的角色无权查看容量"),
}


def label(key: str, lang: str = "en") -> str:
    """The label for ``key`` in ``lang`` (the key itself when unknown)."""
    pair = _LABELS.get(key)
    if pair is None:
        return key
    return pair[1] if lang == "zh" else pair[0]


def dept_name(zh: str | None, en: str | None) -> str:
    """A department's name: Chinese with English alongside."""
    if zh and en:
        return f"{zh} {en}"
    return zh or en or ""
