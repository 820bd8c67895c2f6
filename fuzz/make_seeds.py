#!/usr/bin/env python3
"""Writes the seed corpora of fuzz/corpus/<target>/ (small, real examples).

Run from anywhere: python3 fuzz/make_seeds.py. Standard library only: the
protobuf, msgpack and HTTP/2 seeds are encoded by hand below, field by field
as tfbridge/proto/tfplugin6.proto numbers them. The outputs are committed;
rerun this after changing it.
"""
import json, os, struct

HERE = os.path.dirname(os.path.abspath(__file__))
ACC = "023e105f4ecef8ad9ca31a8372d0c353"
CID = "1f0e3a1e2f6b4c5d8e9fa0b1c2d3e4f5"


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def rpc(i, method, params):
    return json.dumps({"jsonrpc": "2.0", "id": i, "method": method, "params": params},
                      separators=(",", ":")) + "\n"


CONFIG = {"account_id": ACC, "email_domain": "example.com"}
STATE = {"id": CID, "account_id": ACC, "email_domain": "example.com", "enabled": False,
         "use_fedramp_language": False, "begin_verification": True,
         "created_on": "2026-01-01T00:00:00Z", "updated_on": "2026-01-01T00:00:00Z",
         "verification": {"code": "cloudflare_dashboard_sso=1234", "status": "awaiting"}}
UNK = {"$unknown": True}
CONFIGURE = rpc(1, "ConfigureProvider", {"config": {"api_token": "fuzz-token", "max_retries": 0}})

# --- rpc: sessions as an orchestrator writes them ---
write("rpc", "schema", rpc(1, "GetProviderSchema", {}))
write("rpc", "validate", rpc(1, "ValidateProviderConfig", {"config": {"api_token": "t"}}) +
      rpc(2, "ValidateResourceConfig", {"type_name": "sso_connector", "config": CONFIG}) +
      rpc(3, "ValidateDataResourceConfig", {"type_name": "sso_connectors", "config": {"account_id": ACC}}))
write("rpc", "plan_create", CONFIGURE +
      rpc(2, "PlanResourceChange", {"type_name": "sso_connector", "prior_state": None, "config": CONFIG}))
write("rpc", "plan_update", CONFIGURE +
      rpc(2, "PlanResourceChange", {"type_name": "sso_connector", "prior_state": STATE,
                                    "config": dict(CONFIG, enabled=True)}))
write("rpc", "plan_destroy", CONFIGURE +
      rpc(2, "PlanResourceChange", {"type_name": "sso_connector", "prior_state": STATE, "config": None}))
write("rpc", "upgrade", rpc(1, "UpgradeResourceState", {"type_name": "sso_connector", "version": 0,
                                                        "raw_state": STATE}))
write("rpc", "import", CONFIGURE +
      rpc(2, "ImportResourceState", {"type_name": "sso_connector", "id": ACC + "/" + CID}) +
      rpc(3, "ImportResourceState", {"type_name": "sso_connector", "id": ACC + "/example.com"}) +
      rpc(4, "ImportResourceState", {"type_name": "sso_connector", "id": "nope"}))
write("rpc", "read", CONFIGURE +
      rpc(2, "ReadResource", {"type_name": "sso_connector", "current_state": STATE}))
write("rpc", "batch_cl", "Content-Length: 70\r\n\r\n" +
      json.dumps([{"jsonrpc": "2.0", "id": 1, "method": "GetProviderSchema"}], separators=(",", ":"))
      .ljust(70))

# --- framing: chunk byte, then a stream ---
write("framing", "newline", b"\x07" + open(os.path.join(HERE, "corpus", "rpc", "validate"), "rb").read())
body = rpc(1, "GetProviderSchema", {}).strip()
write("framing", "content_length", b"\x10Content-Length: %d\r\n\r\n%s" % (len(body), body.encode()))
write("framing", "batch", b"\xff" + json.dumps([{"jsonrpc": "2.0", "id": 1, "method": "a"},
                                                  {"jsonrpc": "2.0", "method": "b"}, 3]).encode() + b"\n")

# --- import ids ---
write("import_id", "by_id", ACC + "/" + CID)
write("import_id", "by_domain", ACC + "/Corp.Example.com")
write("import_id", "bad", ACC + "//example.com")

# --- sso_plan ---
write("sso_plan", "create", json.dumps({"prior": None, "config": CONFIG}))
write("sso_plan", "update", json.dumps({"prior": STATE, "config": dict(CONFIG, enabled=True,
                                                                       begin_verification=True)}))
write("sso_plan", "replace", json.dumps({"prior": STATE, "config": dict(CONFIG, email_domain="other.example"),
                                         "proposed": dict(STATE, email_domain="other.example", id=UNK)}))
write("sso_plan", "upgrade", json.dumps({"raw": dict(STATE, extra=1)}))
API = {"id": CID, "email_domain": "Example.com", "enabled": True, "use_fedramp_language": False,
       "created_on": "2026-01-01T00:00:00Z", "updated_on": "2026-01-02T00:00:00Z",
       "verification": {"code": "c", "status": "verified"}}
write("sso_plan", "from_api", json.dumps({"api": API, "account_id": ACC, "prior": STATE}))

# --- cfapi_wire: Retry-After \n Retry-After-Ms \n body ---
env = lambda result, **kw: json.dumps(dict({"success": True, "errors": [], "messages": [],
                                            "result": result}, **kw))
write("cfapi_wire", "list", "example.com\n\n" + env([API, dict(API, id=ACC, email_domain="b.example")],
                                                    result_info={"page": 1, "per_page": 2,
                                                                 "total_count": 5}))
write("cfapi_wire", "error", "120\n\n" + json.dumps({"success": False, "errors": [
    {"code": 10000, "message": "Authentication error"}], "messages": [], "result": None}))
write("cfapi_wire", "date", "Wed, 21 Oct 2026 07:28:00 GMT\n1500\n" + env(API))


# --- msgpack ---
def mp(v):
    if v is None:
        return b"\xc0"
    if v is True:
        return b"\xc3"
    if v is False:
        return b"\xc2"
    if isinstance(v, int):
        return bytes([v]) if 0 <= v < 128 else b"\xd3" + struct.pack(">q", v)
    if isinstance(v, float):
        return b"\xcb" + struct.pack(">d", v)
    if isinstance(v, str):
        b = v.encode()
        return (bytes([0xa0 | len(b)]) if len(b) < 32 else b"\xd9" + bytes([len(b)])) + b
    if isinstance(v, bytes):  # raw: already msgpack
        return v
    if isinstance(v, list):
        return bytes([0x90 | len(v)]) + b"".join(mp(x) for x in v)
    if isinstance(v, dict):
        return bytes([0x80 | len(v)]) + b"".join(mp(k) + mp(x) for k, x in sorted(v.items()))
    raise TypeError(v)


UNKNOWN = b"\xd4\x00\x00"
STATE_MP = mp(STATE)
PLANNED_MP = mp(dict(STATE, id=UNKNOWN, enabled=UNKNOWN, verification=UNKNOWN))
CONFIG_MP = mp(dict({k: None for k in STATE}, **CONFIG))
write("msgval", "state", b"\x00" + STATE_MP)
write("msgval", "planned", b"\x00" + PLANNED_MP)
write("msgval", "provider", b"\x01" + mp({"api_token": "t", "api_key": None, "email": None,
                                          "base_url": None, "max_retries": 3,
                                          "request_timeout": 1.5, "max_rps": None}))
write("msgval", "dynamic", b"\x03" + mp([b"\xc4" + bytes([len('["list","string"]')]) + b'["list","string"]',
                                         ["a", "b"]]))
write("msgval", "refined_unknown", b"\x07" + b"\xc7\x03\x0c\x81\x01\xc2")


# --- protobuf (tfplugin6) ---
def varint(n):
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def field(num, data):  # length-delimited
    if isinstance(data, str):
        data = data.encode()
    return varint(num << 3 | 2) + varint(len(data)) + data


def dv(msgpack=None, js=None):  # DynamicValue: msgpack 1, json 2
    return (field(1, msgpack) if msgpack is not None else b"") + (field(2, js) if js is not None else b"")


# bridge.c's method table order: 0 ValidateProviderConfig, 1 ConfigureProvider,
# 2 ValidateResourceConfig, 3 ValidateDataResourceConfig, 4 UpgradeResourceState,
# 5 ReadResource, 6 PlanResourceChange, 7 ApplyResourceChange, 8 ImportResourceState,
# 9 ReadDataSource, 10 StopProvider.
TN = "cloudflare_sso_connector"
PROVIDER_MP = mp({"api_token": "t", "api_key": None, "email": None, "base_url": None,
                  "max_retries": None, "request_timeout": None, "max_rps": None})
write("tfproto", "configure", b"\x01" + field(1, "1.9.0") + field(2, dv(PROVIDER_MP)))
write("tfproto", "validate", b"\x02" + field(1, TN) + field(2, dv(CONFIG_MP)))
write("tfproto", "upgrade", b"\x04" + field(1, TN) + field(3, field(1, json.dumps(STATE))))
write("tfproto", "read", b"\x05" + field(1, TN) + field(2, dv(STATE_MP)) + field(3, b"priv"))
write("tfproto", "plan", b"\x06" + field(1, TN) + field(2, dv(STATE_MP)) + field(3, dv(PLANNED_MP)) +
      field(4, dv(CONFIG_MP)))
write("tfproto", "import", b"\x08" + field(1, TN) + field(2, ACC + "/example.com"))
write("tfproto", "data", b"\x09" + field(1, "cloudflare_sso_connectors") +
      field(2, dv(js=json.dumps({"account_id": ACC, "connectors": None}))))


# --- grpc framing ---
def grpc_msg(b):
    return b"\x00" + struct.pack(">I", len(b)) + b


write("grpc", "unary", grpc_msg(field(1, TN)))
write("grpc", "empty", b"")
write("grpc", "trailing", grpc_msg(b"ab") + b"x")


# --- HTTP/2: preface, SETTINGS, HEADERS (literal, no Huffman), DATA ---
def frame(ftype, flags, stream, payload):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + struct.pack(">I", stream) + payload


def literal(name, value):  # literal header field without indexing, new name
    return b"\x00" + bytes([len(name)]) + name.encode() + bytes([len(value)]) + value.encode()


def headers(path):
    return (b"\x83"  # :method POST (static 3)
            + b"\x86"  # :scheme http (static 6)
            + literal(":path", path) + literal(":authority", "plugin")
            + literal("content-type", "application/grpc") + literal("te", "trailers"))


PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
SETTINGS = frame(4, 0, 0, b"")
body = grpc_msg(field(1, TN))
write("h2server", "unary", b"\x3f" + PREFACE + SETTINGS + frame(1, 4, 1, headers("/tfplugin6.Provider/ReadResource"))
      + frame(0, 1, 1, body))
write("h2server", "three_streams", b"\xff" + PREFACE + SETTINGS + frame(4, 1, 0, b"")
      + frame(1, 4, 1, headers("/a/b")) + frame(0, 1, 1, grpc_msg(b"x"))
      + frame(1, 4, 3, headers("/a/bc")) + frame(0, 1, 3, grpc_msg(b"yy"))
      + frame(1, 4, 5, headers("/a/bcd")) + frame(0, 0, 5, grpc_msg(b"z")[:3]) + frame(3, 0, 5, b"\x00\x00\x00\x08")
      + frame(6, 0, 0, b"12345678") + frame(7, 0, 0, b"\x00\x00\x00\x05\x00\x00\x00\x00"))
write("h2server", "not_h2", b"\x00GET / HTTP/1.1\r\nHost: x\r\n\r\n")
