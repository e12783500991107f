"""keepalived.conf as typed, frozen values, each with the file and line it came from.

The builder reads only what keepalived 2.2.7 itself would take from each block: a
keyword that is not valid where it stands is recorded in `Config.unknown` and its value
is not used (as keepalived ignores it), so timings and weights here are the ones the
daemon really runs with. Deprecated keywords are recorded in `Config.deprecated`, and
values keepalived rejects become findings in `Config.findings`. Nothing is fatal, and
nothing in a configuration is ever executed: scripts are kept as text.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from lvstop.sources.keepalived.parser import (
    Finding,
    Node,
    ParsedConfig,
    Severity,
    command_words,
    parse_file,
    parse_text,
)

# ---------------------------------------------------------------------------------------
# Which keywords keepalived 2.2.7 accepts in which block (its *_parser.c tables).
# A keyword not listed for a block is one keepalived reports as "Unknown keyword" and
# ignores: the classic being nb_get_retry in TCP_CHECK (only HTTP_GET/SSL_GET take it).
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BlockSpec:
    """What a block may contain.

    `keywords`: plain statements; `blocks`: keyword -> spec name of the sub-block it
    opens (keepalived requires the '{'); `values`: keywords followed by a free-form
    `{ ... }` list (addresses, track lists); `opaque`: contents are not checked.
    """

    keywords: frozenset[str] = frozenset()
    blocks: Mapping[str, str] = field(default_factory=dict)
    values: frozenset[str] = frozenset()
    opaque: bool = False


def _kw(text: str) -> frozenset[str]:
    return frozenset(text.split())


_GLOBAL_DEFS = _kw("""
    process_names process_name vrrp_process_name checker_process_name lvs_process_name
    bfd_process_name router_id notification_email_from smtp_server smtp_helo_name
    smtp_connect_timeout smtp_alert startup_script startup_script_timeout shutdown_script
    shutdown_script_timeout max_auto_priority min_auto_priority_delay smtp_alert_vrrp
    smtp_alert_checker checker_log_all_failures dynamic_interfaces no_email_faults
    default_interface disable_local_igmp lvs_timeouts lvs_flush lvs_flush_on_stop
    lvs_flush_onstop lvs_sync_daemon vrrp_mcast_group4 vrrp_mcast_group6
    vrrp_garp_master_delay vrrp_garp_master_repeat vrrp_garp_master_refresh
    vrrp_garp_master_refresh_repeat vrrp_garp_lower_prio_delay vrrp_garp_lower_prio_repeat
    vrrp_down_timer_adverts vrrp_garp_interval vrrp_gna_interval vrrp_min_garp
    vrrp_garp_extra_if vrrp_vmac_garp_intvl vrrp_lower_prio_no_advert
    vrrp_higher_prio_send_advert vrrp_version vrrp_iptables vrrp_ipsets nftables
    nftables_priority nftables_ifindex nftables_ipvs nftables_ipvs_priority
    nftables_ipvs_start_fwmark nftables_counters vrrp_check_unicast_src
    vrrp_skip_check_adv_addr vrrp_strict vrrp_priority vrrp_no_swap vrrp_rt_priority
    vrrp_cpu_affinity vrrp_rlimit_rttime vrrp_rlimit_rtime notify_fifo notify_fifo_script
    vrrp_notify_fifo vrrp_notify_fifo_script vrrp_notify_priority_changes
    fifo_write_vrrp_states_on_reload lvs_notify_fifo lvs_notify_fifo_script
    checker_priority checker_no_swap checker_rt_priority checker_cpu_affinity
    checker_rlimit_rttime checker_rlimit_rtime bfd_priority bfd_no_swap bfd_rt_priority
    bfd_cpu_affinity bfd_rlimit_rttime bfd_rlimit_rtime snmp_socket enable_traps
    enable_snmp_vrrp enable_snmp_keepalived enable_snmp_rfc enable_snmp_rfcv2
    enable_snmp_rfcv3 enable_snmp_checker enable_dbus dbus_service_name script_user
    enable_script_security vrrp_netlink_cmd_rcv_bufs vrrp_netlink_cmd_rcv_bufs_force
    vrrp_netlink_monitor_rcv_bufs vrrp_netlink_monitor_rcv_bufs_force
    process_monitor_rcv_bufs process_monitor_rcv_bufs_force lvs_netlink_cmd_rcv_bufs
    lvs_netlink_cmd_rcv_bufs_force lvs_netlink_monitor_rcv_bufs
    lvs_netlink_monitor_rcv_bufs_force rs_init_notifies no_checker_emails
    vrrp_rx_bufs_policy vrrp_rx_bufs_multiplier vrrp_startup_delay log_unknown_vrids
    vmac_prefix vmac_addr_prefix umask random_seed reload_check_config reload_time_file
    reload_repeat reload_file include_check config_save_dir tmp_config_directory
    data_use_instance
""")

_VRRP_INSTANCE = _kw("""
    use_vmac use_vmac_addr vmac_xmit_base use_ipvlan unicast_fault_no_peer
    check_unicast_src old_unicast_checksum native_ipv6 state interface vrf
    dont_track_primary mcast_src_ip unicast_src_ip mcast_dst_ip track_src_ip
    virtual_router_id unicast_ttl version priority advert_int promote_secondaries
    linkbeat_use_polling accept no_accept skip_check_adv_addr strict_mode preempt
    nopreempt preempt_delay debug notify_backup notify_master notify_fault notify_stop
    notify_deleted notify notify_master_rx_lower_pri smtp_alert notify_priority_changes
    lvs_sync_daemon_interface garp_master_delay garp_master_refresh garp_master_repeat
    garp_master_refresh_repeat garp_lower_prio_delay garp_lower_prio_repeat
    down_timer_adverts garp_extra_if vmac_garp_intvl lower_prio_no_advert
    higher_prio_send_advert kernel_rx_buf_size
""")
_VRRP_INSTANCE_VALUES = _kw("""
    unicast_peer track_interface track_script track_file track_process track_bfd
    virtual_ipaddress virtual_ipaddress_excluded virtual_routes virtual_rules
""")

_SYNC_GROUP = _kw("""
    notify_backup notify_master notify_fault notify_stop notify smtp_alert global_tracking
    sync_group_tracking_weight notify_priority_changes
""")
_SYNC_GROUP_VALUES = _kw("group track_interface track_script track_file track_process track_bfd")

_VIRTUAL_SERVER = _kw("""
    ip_family retry delay_before_retry warmup connect_timeout delay_loop inhibit_on_failure
    lb_algo lvs_sched hashed ops flag-1 flag-2 flag-3 sh-port sh-fallback mh-port
    mh-fallback lb_kind lvs_method persistence_engine persistence_timeout
    persistence_granularity protocol ha_suspend smtp_alert virtualhost snmp_name alpha
    omega quorum_up quorum_down quorum hysteresis weight sorry_server sorry_server_inhibit
    sorry_server_lvs_method
""")

_REAL_SERVER = _kw("""
    weight lvs_method uthreshold lthreshold inhibit_on_failure notify_up notify_down alpha
    retry delay_before_retry warmup connect_timeout delay_loop smtp_alert virtualhost
    snmp_name
""")

CHECKERS = (
    "HTTP_GET",
    "SSL_GET",
    "TCP_CHECK",
    "MISC_CHECK",
    "SMTP_CHECK",
    "DNS_CHECK",
    "PING_CHECK",
    "UDP_CHECK",
    "BFD_CHECK",
    "FILE_CHECK",
)

_CHECKER_TIMING = _kw("retry delay_before_retry warmup delay_loop alpha log_all_failures")
_CHECKER_CONN = _kw("connect_ip connect_port bindto bind_port bind_if connect_timeout fwmark")
_COMMON = _CHECKER_TIMING | _CHECKER_CONN

SCHEMA: dict[str, BlockSpec] = {
    "top": BlockSpec(
        keywords=_kw("""net_namespace net_namespace_ipvs namespace_with_ipsets use_pid_dir
            instance child_wait_time linkbeat_use_polling"""),
        blocks={
            "global_defs": "global_defs",
            "vrrp_instance": "vrrp_instance",
            "vrrp_sync_group": "vrrp_sync_group",
            "vrrp_script": "vrrp_script",
            "track_file": "track_file",
            "vrrp_track_file": "track_file",
            "vrrp_track_process": "vrrp_track_process",
            "virtual_server": "virtual_server",
            "SSL": "SSL",
            "bfd_instance": "opaque",
            "garp_group": "opaque",
            "track_group": "opaque",
        },
        values=_kw("""virtual_server_group static_ipaddress static_routes static_rules
            linkbeat_interfaces interface_up_down_delays"""),
    ),
    "global_defs": BlockSpec(keywords=_GLOBAL_DEFS),
    "vrrp_instance": BlockSpec(
        keywords=_VRRP_INSTANCE,
        blocks={"authentication": "authentication"},
        values=_VRRP_INSTANCE_VALUES,
    ),
    "authentication": BlockSpec(keywords=_kw("auth_type auth_pass")),
    "vrrp_sync_group": BlockSpec(keywords=_SYNC_GROUP, values=_SYNC_GROUP_VALUES),
    "vrrp_script": BlockSpec(
        keywords=_kw("script interval timeout weight rise fall user init_fail")
    ),
    "track_file": BlockSpec(keywords=_kw("file weight init_file")),
    "vrrp_track_process": BlockSpec(
        keywords=_kw("""process param_match weight quorum quorum_max delay terminate_delay
            fork_delay full_command""")
    ),
    "SSL": BlockSpec(keywords=_kw("password ca certificate key")),
    "virtual_server": BlockSpec(keywords=_VIRTUAL_SERVER, blocks={"real_server": "real_server"}),
    "real_server": BlockSpec(keywords=_REAL_SERVER, blocks={c: c for c in CHECKERS}),
    "HTTP_GET": BlockSpec(
        keywords=_COMMON | _kw("nb_get_retry virtualhost http_protocol enable_sni fast_recovery"),
        blocks={"url": "url"},
    ),
    "url": BlockSpec(
        keywords=_kw("""path digest status_code virtualhost regex regex_no_match
            regex_options regex_min_offset regex_max_offset regex_stack""")
    ),
    "TCP_CHECK": BlockSpec(keywords=_COMMON),
    "MISC_CHECK": BlockSpec(
        keywords=_CHECKER_TIMING | _kw("misc_path misc_timeout misc_dynamic user")
    ),
    "SMTP_CHECK": BlockSpec(keywords=_COMMON | _kw("helo_name"), blocks={"host": "smtp_host"}),
    "smtp_host": BlockSpec(keywords=_COMMON),
    "DNS_CHECK": BlockSpec(keywords=_COMMON | _kw("type name")),
    "PING_CHECK": BlockSpec(keywords=_COMMON),
    "UDP_CHECK": BlockSpec(
        keywords=_COMMON | _kw("payload require_reply min_reply_length max_reply_length")
    ),
    "BFD_CHECK": BlockSpec(keywords=_kw("name alpha")),
    "FILE_CHECK": BlockSpec(keywords=_kw("track_file weight")),
    "opaque": BlockSpec(opaque=True),
}
SCHEMA["SSL_GET"] = SCHEMA["HTTP_GET"]


@dataclass(frozen=True, slots=True)
class Deprecation:
    """A keyword keepalived still accepts in `block` but wants replaced."""

    replacement: str
    note: str
    warn: bool  # True: keepalived itself reports it as a configuration error


DEPRECATED: dict[tuple[str, str], Deprecation] = {
    ("HTTP_GET", "nb_get_retry"): Deprecation(
        "retry", "keepalived logs a config error for it and `keepalived -t` fails", True
    ),
    ("SSL_GET", "nb_get_retry"): Deprecation(
        "retry", "keepalived logs a config error for it and `keepalived -t` fails", True
    ),
    ("virtual_server", "lb_algo"): Deprecation("lvs_sched", "an old alias", False),
    ("virtual_server", "lb_kind"): Deprecation("lvs_method", "an old alias", False),
    ("top", "vrrp_track_file"): Deprecation("track_file", "deprecated since 2.0.20", False),
    ("global_defs", "enable_snmp_keepalived"): Deprecation("enable_snmp_vrrp", "deprecated", False),
    ("global_defs", "lvs_flush_onstop"): Deprecation("lvs_flush_on_stop", "deprecated", False),
    ("global_defs", "vrrp_rlimit_rtime"): Deprecation("vrrp_rlimit_rttime", "misspelt", False),
    ("global_defs", "checker_rlimit_rtime"): Deprecation(
        "checker_rlimit_rttime", "misspelt", False
    ),
    ("global_defs", "bfd_rlimit_rtime"): Deprecation("bfd_rlimit_rttime", "misspelt", False),
    ("global_defs", "vrrp_vmac_garp_intvl"): Deprecation(
        "vrrp_garp_extra_if", "deprecated after 2.2.2", False
    ),
    ("vrrp_instance", "vmac_garp_intvl"): Deprecation(
        "garp_extra_if", "deprecated after 2.2.2", False
    ),
    ("vrrp_sync_group", "global_tracking"): Deprecation(
        "sync_group_tracking_weight", "deprecated", False
    ),
    ("SMTP_CHECK", "host"): Deprecation(
        "one SMTP_CHECK block per host", "deprecated; keepalived logs it", False
    ),
}

# Keywords often written in the wrong block, with what to write instead.
MISPLACED_HINTS: dict[str, str] = {
    "nb_get_retry": "use 'retry N' (nb_get_retry is only accepted, deprecated, in HTTP_GET "
    "and SSL_GET)",
    "lb_algo": "lb_algo/lvs_sched belongs in the virtual_server block",
    "lb_kind": "lb_kind/lvs_method belongs in the virtual_server block",
    "auth_pass": "auth_pass belongs inside 'authentication { ... }'",
    "auth_type": "auth_type belongs inside 'authentication { ... }'",
    "misc_path": "misc_path belongs inside a MISC_CHECK block",
    "path": "path and status_code belong inside 'url { ... }' of an HTTP_GET/SSL_GET",
    "status_code": "path and status_code belong inside 'url { ... }' of an HTTP_GET/SSL_GET",
}


def where_valid(keyword: str) -> tuple[str, ...]:
    """Blocks (spec names) in which `keyword` is accepted; for "did you mean" hints."""
    out = []
    for name, spec in SCHEMA.items():
        if keyword in spec.keywords or keyword in spec.blocks or keyword in spec.values:
            out.append(name)
    return tuple(dict.fromkeys(out))


# ---------------------------------------------------------------------------------------
# The model
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Loc:
    """Where something was written."""

    file: str
    line: int


def _loc_of(at: Mapping[str, Loc], keyword: str, file: str, line: int) -> Loc:
    return at.get(keyword) or Loc(file, line)


@dataclass(frozen=True, slots=True)
class Fifo:
    """A notify FIFO from global_defs (`notify_fifo PATH [user [group]]`)."""

    path: str
    file: str
    line: int
    user: str | None = None
    group: str | None = None
    script: str | None = None


@dataclass(frozen=True, slots=True)
class GlobalDefs:
    """The global_defs settings lvstop cares about (how to reach keepalived's state)."""

    file: str
    line: int
    router_id: str | None = None
    notify_fifo: Fifo | None = None
    vrrp_notify_fifo: Fifo | None = None
    lvs_notify_fifo: Fifo | None = None
    vrrp_notify_priority_changes: bool = False
    fifo_write_vrrp_states_on_reload: bool = False
    enable_dbus: bool = False
    dbus_service_name: str | None = None
    enable_snmp_vrrp: bool = False
    enable_snmp_checker: bool = False
    enable_snmp_rfcv2: bool = False
    enable_snmp_rfcv3: bool = False
    enable_traps: bool = False
    snmp_socket: str | None = None
    data_use_instance: bool = False
    tmp_config_directory: str | None = None
    enable_script_security: bool = False
    script_user: str | None = None
    vrrp_strict: bool = False
    vrrp_version: int | None = None
    at: Mapping[str, Loc] = field(default_factory=dict, compare=False, repr=False)

    def loc(self, keyword: str) -> Loc:
        return _loc_of(self.at, keyword, self.file, self.line)


@dataclass(frozen=True, slots=True)
class Authentication:
    """VRRP authentication; `auth_pass` as written (keepalived keeps 8 characters)."""

    file: str
    line: int
    auth_type: str | None = None
    auth_pass: str | None = None
    at: Mapping[str, Loc] = field(default_factory=dict, compare=False, repr=False)

    def loc(self, keyword: str) -> Loc:
        return _loc_of(self.at, keyword, self.file, self.line)

    @property
    def effective_pass(self) -> str | None:
        """What keepalived sends: the first 8 characters."""
        return None if self.auth_pass is None else self.auth_pass[:8]


@dataclass(frozen=True, slots=True)
class Vip:
    """One virtual_ipaddress line: address, prefix length, device, and the text."""

    address: str
    file: str
    line: int
    prefix: int | None = None
    dev: str | None = None
    text: str = ""


@dataclass(frozen=True, slots=True)
class Peer:
    """A unicast_peer address."""

    address: str
    file: str
    line: int


@dataclass(frozen=True, slots=True)
class TrackRef:
    """A `NAME [weight W [reverse]]` line of a track_interface/script/file/... list."""

    name: str
    file: str
    line: int
    weight: int | None = None
    reverse: bool = False
    seq: int = 0


@dataclass(frozen=True, slots=True)
class VrrpInstance:
    """A vrrp_instance with keepalived's defaults applied (priority 100, advert 1 s)."""

    name: str
    file: str
    line: int
    state: str | None = None
    interface: str | None = None
    vrid: int | None = None
    priority: int = 100
    advert_int: float = 1.0
    version: int | None = None
    authentication: Authentication | None = None
    vips: tuple[Vip, ...] = ()
    excluded_vips: tuple[Vip, ...] = ()
    unicast_src_ip: str | None = None
    unicast_peers: tuple[Peer, ...] = ()
    nopreempt: bool = False
    preempt_delay: float = 0.0
    track_interfaces: tuple[TrackRef, ...] = ()
    track_scripts: tuple[TrackRef, ...] = ()
    track_files: tuple[TrackRef, ...] = ()
    track_processes: tuple[TrackRef, ...] = ()
    track_bfds: tuple[TrackRef, ...] = ()
    notify: tuple[tuple[str, str], ...] = ()
    strict_mode: bool = False
    use_vmac: bool = False
    at: Mapping[str, Loc] = field(default_factory=dict, compare=False, repr=False)

    def loc(self, keyword: str) -> Loc:
        return _loc_of(self.at, keyword, self.file, self.line)


@dataclass(frozen=True, slots=True)
class NameRef:
    """A name used somewhere (a sync group member)."""

    name: str
    file: str
    line: int


@dataclass(frozen=True, slots=True)
class VrrpSyncGroup:
    """Instances that change state together, and what they track together."""

    name: str
    file: str
    line: int
    members: tuple[NameRef, ...] = ()
    track_interfaces: tuple[TrackRef, ...] = ()
    track_scripts: tuple[TrackRef, ...] = ()
    track_files: tuple[TrackRef, ...] = ()
    track_processes: tuple[TrackRef, ...] = ()
    track_bfds: tuple[TrackRef, ...] = ()
    sync_group_tracking_weight: bool = False


@dataclass(frozen=True, slots=True)
class VrrpScript:
    """A vrrp_script: the command is kept as text and never run by lvstop."""

    name: str
    file: str
    line: int
    script: str | None = None
    interval: float | None = None
    timeout: float | None = None
    weight: int | None = None
    reverse: bool = False
    rise: int | None = None
    fall: int | None = None
    user: str | None = None
    init_fail: bool = False
    seq: int = 0

    @property
    def argv(self) -> tuple[str, ...]:
        """The command as keepalived would exec it (no shell), for display only."""
        return command_words(self.script or "")


@dataclass(frozen=True, slots=True)
class TrackFile:
    """A track_file (or deprecated vrrp_track_file): the handle for a forced failover."""

    name: str
    file: str
    line: int
    path: str | None = None
    weight: int = 1
    reverse: bool = False
    init_file: str | None = None
    keyword: str = "track_file"
    seq: int = 0
    at: Mapping[str, Loc] = field(default_factory=dict, compare=False, repr=False)

    def loc(self, keyword: str) -> Loc:
        return _loc_of(self.at, keyword, self.file, self.line)


@dataclass(frozen=True, slots=True)
class VsGroupEntry:
    """One line of a virtual_server_group: an address (or range) and port, or a fwmark."""

    file: str
    line: int
    address: str | None = None
    range_end: str | None = None
    port: int | None = None
    fwmark: int | None = None


@dataclass(frozen=True, slots=True)
class VirtualServerGroup:
    name: str
    file: str
    line: int
    entries: tuple[VsGroupEntry, ...] = ()


@dataclass(frozen=True, slots=True)
class Url:
    """An HTTP_GET/SSL_GET url block."""

    file: str
    line: int
    path: str | None = None
    status_code: str | None = None
    digest: str | None = None


@dataclass(frozen=True, slots=True)
class Checker:
    """A health checker of a real server, with only the timings it sets itself.

    Inherited values (real server, then virtual server, then keepalived's defaults)
    are resolved by `check_timing`.
    """

    kind: str
    file: str
    line: int
    connect_timeout: float | None = None
    retry: int | None = None
    delay_before_retry: float | None = None
    delay_loop: float | None = None
    warmup: float | None = None
    alpha: bool | None = None
    connect_ip: str | None = None
    connect_port: int | None = None
    urls: tuple[Url, ...] = ()
    misc_path: str | None = None
    misc_timeout: float | None = None
    misc_dynamic: bool = False
    bfd_name: str | None = None
    track_file: str | None = None
    at: Mapping[str, Loc] = field(default_factory=dict, compare=False, repr=False)

    def loc(self, keyword: str) -> Loc:
        return _loc_of(self.at, keyword, self.file, self.line)


@dataclass(frozen=True, slots=True)
class RealServer:
    """A real_server; `weight` None means the virtual server's `weight` (default 1)."""

    address: str
    file: str
    line: int
    port: int | None = None
    weight: int | None = None
    lvs_method: str | None = None
    inhibit_on_failure: bool | None = None
    alpha: bool | None = None
    connect_timeout: float | None = None
    retry: int | None = None
    delay_before_retry: float | None = None
    delay_loop: float | None = None
    warmup: float | None = None
    uthreshold: int | None = None
    lthreshold: int | None = None
    notify_up: str | None = None
    notify_down: str | None = None
    checkers: tuple[Checker, ...] = ()
    at: Mapping[str, Loc] = field(default_factory=dict, compare=False, repr=False)

    def loc(self, keyword: str) -> Loc:
        return _loc_of(self.at, keyword, self.file, self.line)

    @property
    def label(self) -> str:
        return _hostport(self.address, self.port)


@dataclass(frozen=True, slots=True)
class SorryServer:
    address: str
    file: str
    line: int
    port: int | None = None
    inhibit: bool = False
    lvs_method: str | None = None


@dataclass(frozen=True, slots=True)
class VirtualServer:
    """A virtual_server: by address and port, by fwmark, or by group name."""

    file: str
    line: int
    address: str | None = None
    port: int | None = None
    fwmark: int | None = None
    group: str | None = None
    lvs_sched: str | None = None
    lvs_method: str | None = None
    persistence_timeout: int | None = None
    persistence_granularity: str | None = None
    persistence_engine: str | None = None
    protocol: str | None = None
    quorum: int = 1
    hysteresis: int = 0
    sorry_server: SorryServer | None = None
    alpha: bool = False
    omega: bool = False
    inhibit_on_failure: bool = False
    ha_suspend: bool = False
    ops: bool = False
    delay_loop: float | None = None
    connect_timeout: float | None = None
    retry: int | None = None
    delay_before_retry: float | None = None
    warmup: float | None = None
    weight: int | None = None
    quorum_up: str | None = None
    quorum_down: str | None = None
    real_servers: tuple[RealServer, ...] = ()
    at: Mapping[str, Loc] = field(default_factory=dict, compare=False, repr=False)

    def loc(self, keyword: str) -> Loc:
        return _loc_of(self.at, keyword, self.file, self.line)

    @property
    def label(self) -> str:
        """How ipvsadm would name it: "TCP 10.0.0.1:80", "FWM 5", "group web:80"."""
        if self.group is not None:
            return f"group {self.group}"
        if self.fwmark is not None:
            return f"FWM {self.fwmark}"
        where = _hostport(self.address or "?", self.port)
        return f"{self.protocol} {where}" if self.protocol else where

    @property
    def identity(self) -> tuple[str, str, int, str]:
        """What makes two virtual_server blocks the same IPVS service."""
        if self.group is not None:
            return ("group", self.group, 0, "")
        if self.fwmark is not None:
            return ("fwmark", "", self.fwmark, "")
        return ("inet", normalize_ip(self.address or ""), self.port or 0, self.protocol or "")

    @property
    def method(self) -> str:
        """The forwarding method keepalived uses: NAT when none is set."""
        return self.lvs_method or "NAT"

    def rs_method(self, rs: RealServer) -> str:
        return rs.lvs_method or self.method

    def rs_weight(self, rs: RealServer) -> int:
        if rs.weight is not None:
            return rs.weight
        return self.weight if self.weight is not None else 1


@dataclass(frozen=True, slots=True)
class UnknownKeyword:
    """A keyword keepalived does not accept where it stands (it ignores the line)."""

    keyword: str
    block: str
    file: str
    line: int
    has_block: bool = False


@dataclass(frozen=True, slots=True)
class DeprecatedUse:
    keyword: str
    block: str
    replacement: str
    note: str
    warn: bool
    file: str
    line: int


@dataclass(frozen=True, slots=True)
class Config:
    """One director's configuration: its main file and everything it includes."""

    path: str
    files: tuple[str, ...] = ()
    config_id: str | None = None
    conditional_ids: frozenset[str] = frozenset()
    global_defs: GlobalDefs | None = None
    instance: str | None = None
    net_namespace: str | None = None
    vrrp_instances: tuple[VrrpInstance, ...] = ()
    sync_groups: tuple[VrrpSyncGroup, ...] = ()
    scripts: tuple[VrrpScript, ...] = ()
    track_files: tuple[TrackFile, ...] = ()
    vs_groups: tuple[VirtualServerGroup, ...] = ()
    virtual_servers: tuple[VirtualServer, ...] = ()
    unknown: tuple[UnknownKeyword, ...] = ()
    deprecated: tuple[DeprecatedUse, ...] = ()
    findings: tuple[Finding, ...] = ()
    has_content: bool = False

    def sync_group_of(self, instance: str) -> VrrpSyncGroup | None:
        for group in self.sync_groups:
            if any(m.name == instance for m in group.members):
                return group
        return None

    def vs_group(self, name: str) -> VirtualServerGroup | None:
        return next((g for g in self.vs_groups if g.name == name), None)


def normalize_ip(text: str) -> str:
    """An address in canonical form (IPv6 compressed); unchanged when not an address."""
    try:
        return str(ipaddress.ip_address(text.strip("[]")))
    except ValueError:
        return text


def _hostport(address: str, port: int | None) -> str:
    host = f"[{address}]" if ":" in address else address
    return host if port is None else f"{host}:{port}"


# ---------------------------------------------------------------------------------------
# Check timing: what keepalived runs with after inheritance (check_data.c)
# ---------------------------------------------------------------------------------------

DEFAULT_DELAY_LOOP = 60.0
DEFAULT_CONNECT_TIMEOUT = 5.0


@dataclass(frozen=True, slots=True)
class CheckTiming:
    """A checker's effective timing and the worst case to notice a dead server.

    Worst case: the server dies just after a successful check, the next check starts
    `delay_loop` later, and it and each of `retry` retries (spaced `delay_before_retry`)
    run into the full `timeout` (a silently dropping server, not a refusing one).
    """

    delay_loop: float
    timeout: float
    retry: int
    delay_before_retry: float

    @property
    def worst_case(self) -> float:
        return (
            self.delay_loop + (self.retry + 1) * self.timeout + self.retry * self.delay_before_retry
        )

    def formula(self) -> str:
        def f(v: float) -> str:
            return f"{v:g}"

        return (
            f"delay_loop {f(self.delay_loop)} + (retry {self.retry} + 1) x timeout "
            f"{f(self.timeout)} + retry {self.retry} x delay_before_retry "
            f"{f(self.delay_before_retry)}"
        )


def _first(*values: float | None) -> float | None:
    return next((v for v in values if v is not None), None)


def check_timing(vs: VirtualServer, rs: RealServer, chk: Checker) -> CheckTiming | None:
    """Effective timing of `chk`; None for checkers without one (BFD_CHECK, FILE_CHECK)."""
    if chk.kind in ("BFD_CHECK", "FILE_CHECK"):
        return None
    vs_delay = vs.delay_loop if vs.delay_loop is not None else DEFAULT_DELAY_LOOP
    delay = _first(chk.delay_loop, rs.delay_loop, vs_delay)
    assert delay is not None
    if chk.kind == "MISC_CHECK":
        timeout = chk.misc_timeout if chk.misc_timeout else vs_delay
    else:
        t = _first(chk.connect_timeout, rs.connect_timeout, vs.connect_timeout)
        timeout = t if t is not None else DEFAULT_CONNECT_TIMEOUT
    default_retry = {"DNS_CHECK": 3, "MISC_CHECK": 0}.get(chk.kind, 1)
    retry = next((r for r in (chk.retry, rs.retry, vs.retry) if r is not None), default_retry)
    default_dbr = {"HTTP_GET": 3.0, "SSL_GET": 3.0, "DNS_CHECK": delay}.get(chk.kind, 1.0)
    dbr = _first(chk.delay_before_retry, rs.delay_before_retry, vs.delay_before_retry)
    return CheckTiming(delay, timeout, retry, dbr if dbr is not None else default_dbr)


# ---------------------------------------------------------------------------------------
# The builder
# ---------------------------------------------------------------------------------------

_TRUE = frozenset({"on", "true", "yes"})
_FALSE = frozenset({"off", "false", "no"})
# keepalived's own scheduler list (check_parser.c): it rejects any other name
SCHEDULERS = _kw("rr wrr lc wlc lblc sh mh dh fo ovf lblcr sed nq twos")
METHODS = frozenset({"NAT", "DR", "TUN"})
PROTOCOLS = frozenset({"TCP", "UDP", "SCTP"})
INT32_MAX = 2**31 - 1


class _Block:
    """The statements of one block, split into those keepalived accepts and the rest."""

    def __init__(self, builder: _Builder, spec_name: str, nodes: Sequence[Node]) -> None:
        self.spec_name = spec_name
        self.nodes: list[Node] = []
        spec = SCHEMA[spec_name]
        if spec.opaque:
            return
        for node in nodes:
            kw = node.keyword
            if kw in spec.blocks or kw in spec.values:
                if node.block is None:
                    builder.add(
                        node,
                        Severity.ERROR,
                        "missing-block",
                        f"'{kw}' needs a '{{ ... }}' block: keepalived reports a missing '{{' "
                        "and misreads the lines that follow",
                        f"write '{kw} {{' and close it with '}}'",
                    )
                    continue
            elif kw in spec.keywords:
                if node.block is not None:
                    builder.add(
                        node,
                        Severity.ERROR,
                        "unexpected-block",
                        f"'{kw}' takes no '{{ ... }}' block: keepalived ignores the '{{' and "
                        "the '}' that follows closes the enclosing block",
                        "remove the braces",
                    )
                    continue
            else:
                builder.unknown.append(
                    UnknownKeyword(kw, spec_name, node.file, node.line, node.block is not None)
                )
                continue
            dep = DEPRECATED.get((spec_name, kw))
            if dep is not None:
                builder.deprecated.append(
                    DeprecatedUse(
                        kw, spec_name, dep.replacement, dep.note, dep.warn, node.file, node.line
                    )
                )
            self.nodes.append(node)

    def all(self, *keywords: str) -> list[Node]:
        return [n for n in self.nodes if n.keyword in keywords]

    def last(self, *keywords: str) -> Node | None:
        found = self.all(*keywords)
        return found[-1] if found else None

    def first(self, *keywords: str) -> Node | None:
        found = self.all(*keywords)
        return found[0] if found else None

    def at(self) -> dict[str, Loc]:
        """keyword -> where it was (last) set."""
        return {n.keyword: Loc(n.file, n.line) for n in self.nodes}


class _Builder:
    """Builds a Config from a statement tree; collects problems instead of raising."""

    def __init__(self) -> None:
        self.findings: list[Finding] = []
        self.unknown: list[UnknownKeyword] = []
        self.deprecated: list[DeprecatedUse] = []

    def add(self, node: Node, sev: Severity, code: str, message: str, hint: str) -> None:
        self.findings.append(Finding(node.file, node.line, sev, code, message, hint))

    # -- values -----------------------------------------------------------------------

    def arg(self, node: Node | None, *, max_args: int = 1) -> str | None:
        """The first argument; reports a missing value, and words keepalived ignores."""
        if node is None:
            return None
        if not node.args:
            self.add(
                node,
                Severity.ERROR,
                "missing-value",
                f"'{node.keyword}' needs a value",
                f"write '{node.keyword} VALUE'",
            )
            return None
        if len(node.args) > max_args:
            extra = " ".join(node.args[max_args:])
            self.add(
                node,
                Severity.WARNING,
                "extra-args",
                f"keepalived ignores '{extra}' after '{node.keyword} "
                f"{' '.join(node.args[:max_args])}'",
                "put each keyword on a line of its own",
            )
        return node.args[0]

    def int_(
        self, node: Node | None, lo: int, hi: int, *, what: str = "", max_args: int = 1
    ) -> int | None:
        text = self.arg(node, max_args=max_args)
        if text is None or node is None:
            return None
        try:
            value = int(text, 10)
        except ValueError:
            value = None
        if value is None or not lo <= value <= hi:
            self.add(
                node,
                Severity.ERROR,
                "bad-value",
                f"{what or node.keyword} '{text}' is not a whole number in {lo}..{hi}: "
                "keepalived rejects it and uses its default",
                f"use a value in {lo}..{hi}",
            )
            return None
        return value

    def timer(self, node: Node | None, lo: float = 0.0, hi: float = 4294.0) -> float | None:
        text = self.arg(node)
        if text is None or node is None:
            return None
        try:
            value = float(text)
        except ValueError:
            value = None
        if value is None or not lo <= value <= hi or text.lower() in ("nan", "inf"):
            self.add(
                node,
                Severity.ERROR,
                "bad-value",
                f"{node.keyword} '{text}' is not a time in seconds >= {lo:g}: keepalived "
                "ignores it",
                "use seconds, e.g. '3' or '2.5'",
            )
            return None
        return value

    def flag(self, node: Node | None, default: bool = False) -> bool:
        """A keyword alone means on; keepalived also takes on/off, true/false, yes/no."""
        if node is None:
            return default
        if not node.args:
            return True
        word = node.args[0].lower()
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
        self.add(
            node,
            Severity.ERROR,
            "bad-value",
            f"{node.keyword} '{node.args[0]}' is not on/off, true/false or yes/no",
            f"write '{node.keyword}' alone, or with on/off",
        )
        return default

    def choice(
        self, node: Node | None, choices: Iterable[str], *, upper: bool = False
    ) -> str | None:
        text = self.arg(
            node,
            max_args=99
            if node is not None
            and node.keyword in ("lb_kind", "lvs_method", "sorry_server_lvs_method")
            else 1,
        )
        if text is None or node is None:
            return None
        value = text.upper() if upper else text
        allowed = sorted(choices)
        if value not in allowed:
            self.add(
                node,
                Severity.ERROR,
                "bad-value",
                f"{node.keyword} '{text}' is not one of {', '.join(allowed)}: keepalived "
                "ignores it",
                f"use one of {', '.join(allowed)}",
            )
            return None
        return value

    def rest(self, node: Node | None) -> str | None:
        """All arguments as one text (script commands, paths with options)."""
        if node is None:
            return None
        return " ".join(node.args) if node.args else None

    # -- blocks -----------------------------------------------------------------------

    def build(self, parsed: ParsedConfig) -> Config:
        files = {f: i for i, f in enumerate(parsed.files)}

        def order(file: str, line: int) -> tuple[int, int]:
            return (files.get(file, len(files)), line)

        top = _Block(self, "top", parsed.nodes)
        gd_node = top.last("global_defs")
        instances = tuple(self.vrrp_instance(n) for n in top.all("vrrp_instance"))
        return Config(
            path=parsed.path,
            files=parsed.files,
            config_id=parsed.config_id,
            conditional_ids=parsed.conditional_ids,
            global_defs=self.global_defs(top.all("global_defs")) if gd_node else None,
            instance=self.arg(top.last("instance")),
            net_namespace=self.arg(top.last("net_namespace")),
            vrrp_instances=instances,
            sync_groups=tuple(self.sync_group(n) for n in top.all("vrrp_sync_group")),
            scripts=tuple(self.vrrp_script(n) for n in top.all("vrrp_script")),
            track_files=tuple(self.track_file(n) for n in top.all("track_file", "vrrp_track_file")),
            vs_groups=tuple(self.vs_group(n) for n in top.all("virtual_server_group")),
            virtual_servers=tuple(
                vs for n in top.all("virtual_server") if (vs := self.virtual_server(n))
            ),
            unknown=tuple(sorted(self.unknown, key=lambda u: order(u.file, u.line))),
            deprecated=tuple(sorted(self.deprecated, key=lambda d: order(d.file, d.line))),
            findings=tuple(
                sorted(parsed.findings + tuple(self.findings), key=lambda f: order(f.file, f.line))
            ),
            has_content=bool(top.nodes),
        )

    def global_defs(self, nodes: Sequence[Node]) -> GlobalDefs:
        """All global_defs blocks merged, as keepalived does; located at the first one."""
        b = _Block(self, "global_defs", [c for n in nodes for c in (n.block or ())])

        def fifo(kw: str) -> Fifo | None:
            node = b.last(kw)
            if node is None or self.arg(node, max_args=3) is None:
                return None
            script = b.last(f"{kw}_script")
            return Fifo(
                node.args[0],
                node.file,
                node.line,
                node.args[1] if len(node.args) > 1 else None,
                node.args[2] if len(node.args) > 2 else None,
                self.rest(script),
            )

        return GlobalDefs(
            file=nodes[0].file,
            line=nodes[0].line,
            router_id=self.arg(b.last("router_id")),
            notify_fifo=fifo("notify_fifo"),
            vrrp_notify_fifo=fifo("vrrp_notify_fifo"),
            lvs_notify_fifo=fifo("lvs_notify_fifo"),
            vrrp_notify_priority_changes=self.flag(b.last("vrrp_notify_priority_changes")),
            fifo_write_vrrp_states_on_reload=self.flag(b.last("fifo_write_vrrp_states_on_reload")),
            enable_dbus=self.flag(b.last("enable_dbus")),
            dbus_service_name=self.arg(b.last("dbus_service_name")),
            enable_snmp_vrrp=self.flag(b.last("enable_snmp_vrrp", "enable_snmp_keepalived")),
            enable_snmp_checker=self.flag(b.last("enable_snmp_checker")),
            enable_snmp_rfcv2=self.flag(b.last("enable_snmp_rfcv2", "enable_snmp_rfc")),
            enable_snmp_rfcv3=self.flag(b.last("enable_snmp_rfcv3", "enable_snmp_rfc")),
            enable_traps=self.flag(b.last("enable_traps")),
            snmp_socket=self.arg(b.last("snmp_socket")),
            data_use_instance=self.flag(b.last("data_use_instance")),
            tmp_config_directory=self.arg(b.last("tmp_config_directory")),
            enable_script_security=self.flag(b.last("enable_script_security")),
            script_user=self.rest(b.last("script_user")),
            vrrp_strict=self.flag(b.last("vrrp_strict")),
            vrrp_version=self.int_(b.last("vrrp_version"), 2, 3),
            at=b.at(),
        )

    def _name(self, node: Node, what: str) -> str:
        if not node.args:
            self.add(
                node,
                Severity.ERROR,
                "missing-value",
                f"{what} without a name",
                f"write '{node.keyword} NAME {{'",
            )
            return ""
        return node.args[0]

    def track_refs(self, node: Node | None, lo: int, hi: int) -> tuple[TrackRef, ...]:
        if node is None:
            return ()
        out = []
        for line in node.block or ():
            weight: int | None = None
            reverse = False
            if len(line.args) >= 2 and line.args[0] == "weight":
                try:
                    weight = int(line.args[1], 10)
                except ValueError:
                    weight = None
                if weight is None or not lo <= weight <= hi:
                    self.add(
                        line,
                        Severity.ERROR,
                        "bad-value",
                        f"track weight '{line.args[1]}' is not in {lo}..{hi}: keepalived "
                        "ignores it",
                        f"use a weight in {lo}..{hi}",
                    )
                    weight = None
                reverse = len(line.args) >= 3 and line.args[2] == "reverse"
            elif line.args:
                self.add(
                    line,
                    Severity.ERROR,
                    "bad-value",
                    f"expected 'weight N' after '{line.keyword}', not '{' '.join(line.args)}'",
                    f"write '{line.keyword} weight N'",
                )
            out.append(TrackRef(line.keyword, line.file, line.line, weight, reverse, line.seq))
        return tuple(out)

    def vips(self, node: Node | None) -> tuple[Vip, ...]:
        if node is None:
            return ()
        out = []
        for line in node.block or ():
            addr, _, prefix = line.keyword.partition("/")
            dev = None
            if "dev" in line.args[:-1]:
                dev = line.args[line.args.index("dev") + 1]
            plen = int(prefix) if prefix.isdigit() else None
            try:
                ipaddress.ip_address(addr)
            except ValueError:
                self.add(
                    line,
                    Severity.ERROR,
                    "bad-value",
                    f"'{line.keyword}' is not an IP address: keepalived skips this VIP",
                    "write ADDRESS[/PREFIX] [dev IFACE]",
                )
                continue
            out.append(
                Vip(normalize_ip(addr), line.file, line.line, plen, dev, " ".join(line.words))
            )
        return tuple(out)

    def vrrp_instance(self, node: Node) -> VrrpInstance:
        b = _Block(self, "vrrp_instance", node.block or ())
        auth = None
        auth_node = b.last("authentication")
        if auth_node is not None:
            ab = _Block(self, "authentication", auth_node.block or ())
            auth = Authentication(
                auth_node.file,
                auth_node.line,
                self.choice(ab.last("auth_type"), ("PASS", "AH")),
                self.arg(ab.last("auth_pass")),
                ab.at(),
            )
        state_node = b.first("state")
        state = self.choice(state_node, ("MASTER", "BACKUP"))
        if any(n.args[:1] == ("MASTER",) for n in b.all("state")):
            state = "MASTER"  # keepalived ignores a later BACKUP after MASTER
        peers = tuple(
            Peer(normalize_ip(p.keyword), p.file, p.line)
            for n in b.all("unicast_peer")
            for p in n.block or ()
        )
        notify = tuple(
            (n.keyword, self.rest(n) or "")
            for n in b.all(
                "notify",
                "notify_master",
                "notify_backup",
                "notify_fault",
                "notify_stop",
                "notify_deleted",
                "notify_master_rx_lower_pri",
            )
        )
        return VrrpInstance(
            name=self._name(node, "vrrp_instance"),
            file=node.file,
            line=node.line,
            state=state,
            interface=self.arg(b.last("interface")),
            vrid=self.int_(b.last("virtual_router_id"), 1, 255, what="virtual_router_id"),
            priority=self.int_(b.last("priority"), 1, 255) or 100,
            advert_int=self.timer(b.last("advert_int"), 0.01, 255.0) or 1.0,
            version=self.int_(b.last("version"), 2, 3),
            authentication=auth,
            vips=tuple(v for n in b.all("virtual_ipaddress") for v in self.vips(n)),
            excluded_vips=tuple(
                v for n in b.all("virtual_ipaddress_excluded") for v in self.vips(n)
            ),
            unicast_src_ip=self.arg(b.last("unicast_src_ip")),
            unicast_peers=peers,
            nopreempt=(b.last("preempt", "nopreempt") or node).keyword == "nopreempt",
            preempt_delay=self.timer(b.last("preempt_delay")) or 0.0,
            track_interfaces=self._tracks(b, "track_interface", 254),
            track_scripts=self._tracks(b, "track_script", 254),
            track_files=self._tracks(b, "track_file", 254),
            track_processes=self._tracks(b, "track_process", 254),
            track_bfds=self._tracks(b, "track_bfd", 254),
            notify=notify,
            strict_mode=self.flag(b.last("strict_mode")),
            use_vmac=b.last("use_vmac") is not None,
            at=b.at(),
        )

    def _tracks(self, b: _Block, kw: str, limit: int) -> tuple[TrackRef, ...]:
        return tuple(r for n in b.all(kw) for r in self.track_refs(n, -limit, limit))

    def sync_group(self, node: Node) -> VrrpSyncGroup:
        b = _Block(self, "vrrp_sync_group", node.block or ())
        members = tuple(
            NameRef(m.keyword, m.file, m.line) for n in b.all("group") for m in n.block or ()
        )
        return VrrpSyncGroup(
            name=self._name(node, "vrrp_sync_group"),
            file=node.file,
            line=node.line,
            members=members,
            track_interfaces=self._tracks(b, "track_interface", 254),
            track_scripts=self._tracks(b, "track_script", 254),
            track_files=self._tracks(b, "track_file", 254),
            track_processes=self._tracks(b, "track_process", 254),
            track_bfds=self._tracks(b, "track_bfd", 254),
            sync_group_tracking_weight=b.last("sync_group_tracking_weight", "global_tracking")
            is not None,
        )

    def vrrp_script(self, node: Node) -> VrrpScript:
        b = _Block(self, "vrrp_script", node.block or ())
        wnode = b.last("weight")
        weight = self.int_(wnode, -253, 253, max_args=2)
        return VrrpScript(
            name=self._name(node, "vrrp_script"),
            file=node.file,
            line=node.line,
            script=self.rest(b.last("script")),
            interval=self.timer(b.last("interval"), 0.000001),
            timeout=self.timer(b.last("timeout"), 0.000001),
            weight=weight,
            reverse=wnode is not None and wnode.args[1:2] == ("reverse",),
            rise=self.int_(b.last("rise"), 1, INT32_MAX),
            fall=self.int_(b.last("fall"), 1, INT32_MAX),
            user=self.rest(b.last("user")),
            init_fail=b.last("init_fail") is not None,
            seq=node.seq,
        )

    def track_file(self, node: Node) -> TrackFile:
        b = _Block(self, "track_file", node.block or ())
        wnode = b.last("weight")
        weight = self.int_(wnode, -254, 254, max_args=2)
        return TrackFile(
            name=self._name(node, node.keyword),
            file=node.file,
            line=node.line,
            path=self.arg(b.last("file")),
            weight=1 if weight is None else weight,
            reverse=wnode is not None and wnode.args[1:2] == ("reverse",),
            init_file=self.rest(b.last("init_file")) if b.last("init_file") else None,
            keyword=node.keyword,
            seq=node.seq,
            at=b.at(),
        )

    def vs_group(self, node: Node) -> VirtualServerGroup:
        entries = []
        for line in node.block or ():
            if line.keyword == "fwmark":
                mark = self.int_(line, 0, 2**32 - 1, what="fwmark", max_args=2)
                entries.append(VsGroupEntry(line.file, line.line, fwmark=mark))
                continue
            addr, _, end = line.keyword.partition("-")
            port = None
            if line.args:
                port = self.int_(
                    Node((line.keyword, *line.args), line.file, line.line), 0, 65535, what="port"
                )
            entries.append(
                VsGroupEntry(line.file, line.line, normalize_ip(addr), end or None, port)
            )
        return VirtualServerGroup(
            self._name(node, "virtual_server_group"), node.file, node.line, tuple(entries)
        )

    def virtual_server(self, node: Node) -> VirtualServer | None:
        b = _Block(self, "virtual_server", node.block or ())
        address = port = fwmark = group = None
        args = node.args
        if not args:
            self.add(
                node,
                Severity.ERROR,
                "missing-value",
                "virtual_server without an address, fwmark or group: keepalived skips it",
                "write 'virtual_server IP PORT {', 'virtual_server fwmark N {' or "
                "'virtual_server group NAME {'",
            )
            return None
        if args[0] == "group" and len(args) > 1:
            group = args[1]
        elif args[0] == "fwmark" and len(args) > 1:
            fwmark = self.int_(
                Node(("fwmark", *args[1:]), node.file, node.line),
                0,
                2**32 - 1,
                what="fwmark",
                max_args=1,
            )
            if fwmark is None:
                return None
        else:
            address = self._address(node, args[0], "virtual server")
            if address is None:
                return None
            if len(args) > 1:
                port = self.int_(Node(("port", *args[1:]), node.file, node.line), 0, 65535)
        sorry = None
        snode = b.last("sorry_server")
        if snode is not None and self.arg(snode, max_args=2):
            saddr = self._address(snode, snode.args[0], "sorry server")
            if saddr is not None:
                sport = None
                if len(snode.args) > 1:
                    sport = self.int_(
                        Node(("port", *snode.args[1:]), snode.file, snode.line), 0, 65535
                    )
                sorry = SorryServer(
                    saddr,
                    snode.file,
                    snode.line,
                    sport,
                    b.last("sorry_server_inhibit") is not None,
                    self.choice(b.last("sorry_server_lvs_method"), METHODS),
                )
        pto_node = b.last("persistence_timeout")
        pto = None
        if pto_node is not None:
            pto = 360 if not pto_node.args else self.int_(pto_node, 1, 2**31 - 1)
        if pto is None and b.last("persistence_granularity") is not None:
            pto = 360
        return VirtualServer(
            file=node.file,
            line=node.line,
            address=address,
            port=port,
            fwmark=fwmark,
            group=group,
            lvs_sched=self.choice(b.last("lb_algo", "lvs_sched"), SCHEDULERS),
            lvs_method=self.choice(b.last("lb_kind", "lvs_method"), METHODS),
            persistence_timeout=pto,
            persistence_granularity=self.arg(b.last("persistence_granularity")),
            persistence_engine=self.arg(b.last("persistence_engine")),
            protocol=self.choice(b.last("protocol"), PROTOCOLS, upper=True),
            quorum=self.int_(b.last("quorum"), 1, 2**32 - 1) or 1,
            hysteresis=self.int_(b.last("hysteresis"), 0, 2**32 - 1) or 0,
            sorry_server=sorry,
            alpha=b.last("alpha") is not None,
            omega=b.last("omega") is not None,
            inhibit_on_failure=b.last("inhibit_on_failure") is not None,
            ha_suspend=b.last("ha_suspend") is not None,
            ops=b.last("ops") is not None,
            delay_loop=self.timer(b.last("delay_loop"), 0.000001),
            connect_timeout=self.timer(b.last("connect_timeout"), 0.000001),
            retry=self.int_(b.last("retry"), 1, 2**32 - 1),
            delay_before_retry=self.timer(b.last("delay_before_retry")),
            warmup=self.timer(b.last("warmup")),
            weight=self.int_(b.last("weight"), 1, INT32_MAX),
            quorum_up=self.rest(b.last("quorum_up")),
            quorum_down=self.rest(b.last("quorum_down")),
            real_servers=tuple(
                rs for n in b.all("real_server") if (rs := self.real_server(n)) is not None
            ),
            at=b.at(),
        )

    def _address(self, node: Node, text: str, what: str) -> str | None:
        try:
            return str(ipaddress.ip_address(text.strip("[]")))
        except ValueError:
            self.add(
                node,
                Severity.ERROR,
                "bad-value",
                f"{what} address '{text}' is not an IP address: keepalived skips it",
                "write an IPv4 or IPv6 address",
            )
            return None

    def real_server(self, node: Node) -> RealServer | None:
        b = _Block(self, "real_server", node.block or ())
        if not node.args:
            self.add(
                node,
                Severity.ERROR,
                "missing-value",
                "real_server without an address",
                "write 'real_server IP PORT {'",
            )
            return None
        address = self._address(node, node.args[0], "real server")
        if address is None:
            return None
        port = None
        if len(node.args) > 1:
            port = self.int_(Node(("port", *node.args[1:]), node.file, node.line), 0, 65535)
        return RealServer(
            address=address,
            file=node.file,
            line=node.line,
            port=port or None,
            weight=self.int_(b.last("weight"), 0, INT32_MAX),
            lvs_method=self.choice(b.last("lvs_method"), METHODS),
            inhibit_on_failure=self.flag(b.last("inhibit_on_failure"))
            if b.last("inhibit_on_failure")
            else None,
            alpha=self.flag(b.last("alpha")) if b.last("alpha") else None,
            connect_timeout=self.timer(b.last("connect_timeout"), 0.000001),
            retry=self.int_(b.last("retry"), 1, 2**32 - 1),
            delay_before_retry=self.timer(b.last("delay_before_retry")),
            delay_loop=self.timer(b.last("delay_loop"), 0.000001),
            warmup=self.timer(b.last("warmup")),
            uthreshold=self.int_(b.last("uthreshold"), 0, 2**32 - 1),
            lthreshold=self.int_(b.last("lthreshold"), 0, 2**32 - 1),
            notify_up=self.rest(b.last("notify_up")),
            notify_down=self.rest(b.last("notify_down")),
            checkers=tuple(self.checker(n) for n in b.nodes if n.keyword in CHECKERS),
            at=b.at(),
        )

    def checker(self, node: Node) -> Checker:
        kind = node.keyword
        b = _Block(self, kind, node.block or ())
        retry_node = b.last("retry", "nb_get_retry")
        urls = []
        for u in b.all("url"):
            ub = _Block(self, "url", u.block or ())
            urls.append(
                Url(
                    u.file,
                    u.line,
                    self.arg(ub.last("path")),
                    self.rest(ub.last("status_code")),
                    self.arg(ub.last("digest")),
                )
            )
        port_node = b.last("connect_port")
        return Checker(
            kind=kind,
            file=node.file,
            line=node.line,
            connect_timeout=self.timer(b.last("connect_timeout"), 0.000001),
            retry=self.int_(retry_node, 0, 2**32 - 1),
            delay_before_retry=self.timer(b.last("delay_before_retry")),
            delay_loop=self.timer(b.last("delay_loop"), 0.000001),
            warmup=self.timer(b.last("warmup")),
            alpha=self.flag(b.last("alpha")) if b.last("alpha") else None,
            connect_ip=self.arg(b.last("connect_ip")),
            connect_port=self.int_(port_node, 1, 65535) if port_node else None,
            urls=tuple(urls),
            misc_path=self.rest(b.last("misc_path")),
            misc_timeout=self.timer(b.last("misc_timeout")),
            misc_dynamic=b.last("misc_dynamic") is not None,
            bfd_name=self.arg(b.last("name")) if kind == "BFD_CHECK" else None,
            track_file=self.arg(b.last("track_file")) if kind == "FILE_CHECK" else None,
            at=b.at(),
        )


def build(parsed: ParsedConfig) -> Config:
    """The typed model of a parsed configuration."""
    return _Builder().build(parsed)


def load(path: str, *, config_id: str | None = None) -> Config:
    """Parse and build `path`; raises ConfigUnusable only if the file cannot be read."""
    return build(parse_file(path, config_id=config_id))


def loads(text: str, path: str = "<string>", *, config_id: str | None = None) -> Config:
    """Parse and build configuration text (tests, stdin)."""
    return build(parse_text(text, path, config_id=config_id))
