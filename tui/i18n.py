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
    "quota_commit": ("quotas", "配额承诺"),
    "alloc_cap": ("ALLOC/CAP", "已分配/容量"),
    "of_capacity": ("of capacity", "占容量"),
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
    "esc_back": ("Esc goes back", "Esc 返回"),
    "help_keys": ("keys", "按键"),
    "help_close": ("Esc or ? closes this help", "Esc 或 ? 关闭帮助"),
    "help_sites": ("site in view: 1, 2, 3 … (0: all sites)", "当前站点：1、2、3 …（0：全部站点）"),
    "help_move": ("move; PgUp/PgDn pages", "移动；PgUp/PgDn 翻页"),
    "overview_keys": (": views  / filter  ? help  1-3 site  ctrl+r refresh",
                      ": 视图  / 过滤  ? 帮助  1-3 站点  ctrl+r 刷新"),
    "filter_prompt": ("/ to filter: text, regex, or !text to invert — Enter keeps it, Esc "
                      "clears it",
                      "/ 过滤：文本、正则表达式，或 !文本 反选 — Enter 保留，Esc 清除"),
    "hint": ("hint", "提示"),
    "retry_in": ("retrying in {s}s — ctrl+r to retry now", "{s} 秒后重试 — ctrl+r 立即重试"),
    # requests
    "request": ("Request", "申请"),
    "system": ("SYSTEM", "业务系统"),
    "request_state": ("STATE", "状态"),
    "requester": ("REQUESTER", "申请人"),
    "approver": ("APPROVER", "审批人"),
    "submitted": ("SUBMITTED", "提交时间"),
    "updated": ("UPDATED", "更新时间"),
    "error_reason": ("ERROR / REASON", "错误/理由"),
    "reason": ("REASON", "理由"),
    "error": ("ERROR", "错误"),
    "justification": ("JUSTIFICATION", "申请理由"),
    "server_groups": ("Servers asked for", "申请的云主机"),
    "image": ("image", "镜像"),
    "networks": ("networks", "网络"),
    "volumes": ("volumes", "云硬盘"),
    "target_sites": ("Sites (DR copies)", "站点（灾备副本）"),
    "primary": ("primary", "主用"),
    "standby": ("standby", "热备"),
    "cold": ("cold", "冷备"),
    "reserved": ("reserved", "已预留"),
    "hosts_used": ("on {n} hosts", "分布在 {n} 台宿主机"),
    "servers_word": ("servers", "台云主机"),
    "events": ("Events", "事件"),
    "reason_prompt": ("reason for rejecting — Enter rejects, Esc cancels",
                      "驳回理由 — Enter 驳回，Esc 取消"),
    "approve_title": ("Approve request #{request}?", "批准申请 #{request}？"),
    "will_reserve": ("Approving reserves, per site (capacity and the department's quota):",
                     "批准后将按站点预留（容量与部门配额）："),
    "size_unknown": ("flavor size unknown: see `govcloud capacity --flavor`",
                     "规格大小未知：见 `govcloud capacity --flavor`"),
    "fit_now": ("{n} more fit there now", "该站点当前还可容纳 {n} 台"),
    "no_targets": ("no target sites recorded", "未记录目标站点"),
    "approve_yes": ("y/Enter: approve", "y/Enter：批准"),
    "approve_no": ("n/Esc: cancel", "n/Esc：取消"),
    "confirm_waiting": ("confirm the approval: y approves, n or Esc cancels",
                        "请确认：y 批准，n 或 Esc 取消"),
    "approve_cancelled": ("approval of request {request} cancelled: nothing was reserved",
                          "已取消批准申请 {request}：未预留任何资源"),
    # audit entry
    "audit_entry": ("Audit entry", "审计记录"),
    "change": ("CHANGE", "变更内容"),
    "before": ("Before", "变更前"),
    "after": ("After", "变更后"),
    "chain": ("Hash chain", "哈希链"),
    "prev_hash": ("prev hash", "前一哈希"),
    "hash": ("hash", "哈希"),
    "mac": ("mac", "消息认证码"),
    # migrations
    "wave": ("WAVE", "迁移批次"),
    "wave_status": ("WAVE STATUS", "批次状态"),
    "entry_gate": ("ENTRY GATE", "准入检查"),
    "window": ("WINDOW", "窗口"),
    "legacy_host": ("HOST", "主机"),
    "ready": ("READY", "就绪度"),
    "step": ("STEP", "步骤"),
    "live": ("LIVE", "在线"),
    "blocking": ("BLOCKING / ERROR", "阻塞/错误"),
    "gate_override": ("override", "强制放行"),
    "gate_open": ("open", "通过"),
    "gate_closed": ("closed", "未通过"),
    "events_of": ("events of {wave}", "{wave} 的事件"),
    # alerts
    "service": ("SERVICE", "服务"),
    "latency": ("LATENCY MS", "延迟 毫秒"),
    "checked": ("CHECKED", "检查时间"),
    "failures": ("FAILED", "连续失败"),
    "no_alerts": ("no alerts", "无告警"),
    # what-if (overview and the what-if view)
    "if_lost": ("If {site} is lost", "若 {site} 失效"),
    "lost_load": ("({servers} servers, {vcpu} vCPU, {ram} GiB RAM)",
                  "（{servers} 台云主机，{vcpu} vCPU，{ram} GiB 内存）"),
    "whatif_keys": ("(number keys pick the site to lose)", "（数字键选择失效站点）"),
    "takes": ("{site} takes {n} departments ({vcpu} vCPU, {ram} GiB RAM)",
              "{site} 接管 {n} 个部门（{vcpu} vCPU，{ram} GiB 内存）"),
    "takes_needs": ("takes {n} departments: needs {vcpu} vCPU / {ram} GiB RAM / {disk} GB disk",
                    "接管 {n} 个部门：需要 {vcpu} vCPU / {ram} GiB 内存 / {disk} GB 磁盘"),
    "headroom_of": ("headroom {vcpu} / {ram} / {disk}", "可用余量 {vcpu} / {ram} / {disk}"),
    "headroom_vs_free": ("headroom is free capacity on hypervisors that are up and enabled; "
                         "free also counts hosts down or disabled",
                         "可用余量只计在线且启用的宿主机；空闲还包括离线或停用的宿主机"),
    "free_of": ("(free {vcpu} / {ram} / {disk})", "（空闲 {vcpu} / {ram} / {disk}）"),
    "takes_fits": ("fits", "容量充足"),
    "short_by": ("short by {vcpu} vCPU, {ram} GiB RAM, {disk} GB disk",
                 "缺 {vcpu} vCPU、{ram} GiB 内存、{disk} GB 磁盘"),
    "not_protected_n": ("not protected (restored later): {n} departments",
                        "无灾备保护（事后恢复）：{n} 个部门"),
    "copies_lost_n": ("DR copies lost: {n} departments", "灾备副本丢失：{n} 个部门"),
    "stale_warning": ("warning: stale data for {sites}", "警告：{sites} 的数据已过期"),
    "whatif_more": ("(:whatif for the details)", "（:whatif 查看详情）"),
    "outcome": ("OUTCOME", "结果"),
    "not_protected": ("not protected", "无灾备保护"),
    "copy_lost": ("DR copy lost", "灾备副本丢失"),
    "lost_vcpu": ("vCPU", "vCPU"),
    "need_vcpu": ("NEED vCPU", "需 vCPU"),
    "need_ram": ("NEED RAM GiB", "需内存 GiB"),
    "standby_vcpu": ("STANDBY vCPU", "热备 vCPU"),
    "servers_n": ("servers: {n}", "云主机：{n}"),
}

# The footer's and the help screen's key descriptions (the bindings' English descriptions).
_KEYS: dict[str, str] = {
    "views": "视图", "help": "帮助", "quit": "退出", "sync now": "立即同步", "back": "返回",
    "refresh": "刷新", "filter": "过滤", "drill in": "详情", "sort": "排序",
    "reverse sort": "反向排序", "approve": "批准", "reject": "驳回", "cancel": "取消",
    "complete": "补全", "close": "关闭", "yes": "是", "no": "否", "scroll": "滚动",
}


def label(key: str, lang: str = "en") -> str:
    """The label for ``key`` in ``lang`` (the key itself when unknown)."""
    pair = _LABELS.get(key)
    if pair is None:
        return key
    return pair[1] if lang == "zh" else pair[0]


def key_label(description: str, lang: str = "en") -> str:
    """A key's description (a binding's, in English) in ``lang``."""
    if lang == "zh":
        return _KEYS.get(description, description)
    return description


def dept_name(zh: str | None, en: str | None) -> str:
    """A department's name: Chinese with English alongside."""
    if zh and en:
        return f"{zh} {en}"
    return zh or en or ""
