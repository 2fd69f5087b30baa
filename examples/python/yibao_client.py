#!/usr/bin/env python3
"""yibao 的 Python 客户端（只用标准库）/ A Python client for the yibao broker, stdlib only.

The original design's API over the broker's pipe (JSON frames, proto/README.md):

    from yibao_client import YibaoClient
    c = YibaoClient()                       # pipe "yibao" (Windows \\\\.\\pipe\\yibao, Unix /tmp/yibao.sock)
    out = c.call_sync("1101", {"data": {...}})      # -> dict: request_id, status, infcode, err_msg, msgid, response
    rid = c.call_async("2207", {"data": {...}})     # -> request id, returns at once
    c.get_result(rid)                                # -> dict, never waits
    c.wait_for_result(rid, timeout=30)               # -> dict once terminal (or timed_out=True)
    c.validate("2207", {"data": {...}})             # -> (ok, problems): catalog check, nothing sent

`response` is the platform's reply as a dict (None until there is one). Errors the broker
refuses with raise YibaoError (message in 中文 and English).

Run `python3 yibao_client.py [--pipe NAME] demo` for a short demonstration.
"""
import json
import os
import socket
import struct
import sys

PROTOCOL_VERSION = 4


class YibaoError(Exception):
    """The broker refused the request, or could not be reached."""


def _endpoint(pipe):
    if "/" in pipe or "\\" in pipe:
        return pipe
    if os.name == "nt":
        return "\\\\.\\pipe\\" + pipe
    return "/tmp/%s.sock" % pipe


class _Conn:
    """One connection: a named pipe opened as a file on Windows, a Unix socket elsewhere."""

    def __init__(self, path):
        try:
            if os.name == "nt":
                self._f = open(path, "r+b", buffering=0)
                self._sock = None
            else:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self._sock.connect(path)
                self._f = None
        except OSError as e:
            raise YibaoError("无法连接医保代理服务 / cannot reach the yibao broker (%s: %s)" % (path, e))

    def send(self, obj):
        payload = json.dumps(obj, ensure_ascii=False).encode("utf-8")
        data = struct.pack("<I", len(payload)) + b"J" + payload
        if self._f:
            self._f.write(data)
        else:
            self._sock.sendall(data)

    def _read_exact(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self._f.read(n - len(buf)) if self._f else self._sock.recv(n - len(buf))
            if not chunk:
                raise YibaoError("代理服务关闭了连接 / the broker closed the connection")
            buf += chunk
        return buf

    def recv(self):
        header = self._read_exact(5)
        (length,) = struct.unpack("<I", header[:4])
        if header[4:5] != b"J":
            raise YibaoError("unexpected frame format %r" % header[4:5])
        return json.loads(self._read_exact(length).decode("utf-8"))

    def close(self):
        (self._f or self._sock).close()


class YibaoClient:
    def __init__(self, pipe=None):
        self.path = _endpoint(pipe or os.environ.get("YIBAO_PIPE", "yibao"))

    def _request(self, body):
        conn = _Conn(self.path)
        try:
            conn.send({"Hello": {"version": PROTOCOL_VERSION, "client": "yibao-python"}})
            conn.send(body)
            welcome = conn.recv()
            if "Welcome" not in welcome:
                raise YibaoError("handshake refused: %r" % welcome)
            answer = conn.recv()
        finally:
            conn.close()
        if "Error" in answer:
            raise YibaoError(answer["Error"].get("message", answer))
        return answer

    @staticmethod
    def _outcome(answer):
        o = answer.get("Outcome")
        if o is None:
            raise YibaoError("unexpected answer %r" % answer)
        o = dict(o)
        if o.get("response"):
            o["response"] = json.loads(o["response"])
        return o

    def call_sync(self, interface, input_data, timeout=30, **overrides):
        """Calls and waits (up to `timeout` seconds) for the terminal state."""
        body = {"interface": interface, "input": json.dumps(input_data, ensure_ascii=False),
                "mode": "Sync", "wait_ms": int(timeout * 1000)}
        if overrides:
            body["overrides"] = overrides
        return self._outcome(self._request({"Call": body}))

    def call_async(self, interface, input_data, **overrides):
        """Records the call and returns its request id at once."""
        body = {"interface": interface, "input": json.dumps(input_data, ensure_ascii=False),
                "mode": "Async"}
        if overrides:
            body["overrides"] = overrides
        answer = self._request({"Call": body})
        return answer["Accepted"]["request_id"]

    def get_result(self, request_id):
        """The request as stored now (status may still be PENDING or PROCESSING)."""
        return self._outcome(self._request({"Result": {"request_id": int(request_id)}}))

    def wait_for_result(self, request_id, timeout=30):
        """Waits up to `timeout` seconds for a terminal state."""
        return self._outcome(self._request(
            {"Wait": {"request_id": int(request_id), "timeout_ms": int(timeout * 1000)}}))


    def validate(self, interface, input_data):
        """Checks an input against the broker's interface catalog without recording or
        sending it. Returns (ok, problems): one line (中文 / English) per bad field."""
        body = {"interface": interface, "input": json.dumps(input_data, ensure_ascii=False)}
        v = self._request({"Validate": body}).get("Validation")
        if v is None:
            raise YibaoError("unexpected answer to Validate")
        return v["ok"], v["problems"]


def _demo(client):
    person = {"data": {"mdtrt_cert_type": "02", "mdtrt_cert_no": "430102199003071234",
                       "psn_cert_type": "01", "certno": "430102199003071234", "psn_name": "张三"}}
    out = client.call_sync("1101", person)
    name = out["response"]["output"]["baseinfo"]["psn_name"] if out.get("response") else None
    print("call_sync 1101: request_id=%s status=%s psn_name=%s" % (out["request_id"], out["status"], name))
    rid = client.call_async("1101", person)
    print("call_async 1101: request_id=%s" % rid)
    done = client.wait_for_result(rid, timeout=30)
    print("wait_for_result: status=%s infcode=%s" % (done["status"], done["infcode"]))
    print("get_result: status=%s" % client.get_result(rid)["status"])
    ok, problems = client.validate("2207", {"data": {"psn_no": "1", "medfee_sumamt": "1.234"}})
    print("validate 2207: ok=%s problems=%d first=%s" % (ok, len(problems), problems[0].split(" ")[0] if problems else "-"))
    return 0 if out["status"] == "COMPLETED" and done["status"] == "COMPLETED" else 1


if __name__ == "__main__":
    args = sys.argv[1:]
    pipe = None
    if len(args) >= 2 and args[0] == "--pipe":
        pipe, args = args[1], args[2:]
    if args != ["demo"]:
        print(__doc__)
        sys.exit(5)
    try:
        sys.exit(_demo(YibaoClient(pipe)))
    except YibaoError as e:
        print(e, file=sys.stderr)
        sys.exit(3)
