#!/usr/bin/env python3
"""The per-call-process baseline: what the original design's sdk_caller.py does for every
stored-procedure call — start Python, import requests, sign in (the SDK is created per
call), build the envelope, POST it to the platform (the simulator here) with the tif gateway
headers, and record the call with sqlite3.

    python3 bench/python_per_call.py URL DB_FILE PAASID TOKEN FIXMEDINS SEQ

Exit 0 when the platform answered infcode 0. Run once per call by yibao-bench.
"""
import hashlib
import json
import os
import sqlite3
import sys
import time

import requests  # the seed's HTTP library: importing it is part of the per-call cost

url, db, paasid, token, fixmedins, seq = sys.argv[1:7]
seq = int(seq)


def headers():
    ts = str(int(time.time()))
    nonce = "%x-%06x" % (int(time.time() * 1000), (os.getpid() * 7919 + seq) & 0xFFFFFF)
    sig = hashlib.sha256((ts + token + nonce + ts).encode()).hexdigest()
    return {"x-tif-paasid": paasid, "x-tif-timestamp": ts, "x-tif-nonce": nonce,
            "x-tif-signature": sig, "Content-Type": "application/json;charset=utf-8"}


def envelope(infno, n, sign_no, inp):
    now = time.gmtime(time.time() + 8 * 3600)  # Beijing time
    # A msgid unique across processes: the sequence comes from the caller.
    # Sequence numbers 9000+ so the broker (which counts from 0000 each second) never collides.
    msgid = fixmedins + time.strftime("%Y%m%d%H%M%S", now) + "%04d" % (9000 + (seq * 2 + n) % 1000)
    return {"infno": infno, "msgid": msgid, "mdtrtarea_admvs": "430100", "insuplc_admdvs": "430100",
            "recer_sys_code": "YBXT", "dev_no": "", "dev_safe_info": "", "cainfo": "", "signtype": "",
            "infver": "V1.0", "opter_type": "1", "opter": "001", "opter_name": "收费员",
            "inf_time": time.strftime("%Y-%m-%d %H:%M:%S", now), "fixmedins_code": fixmedins,
            "fixmedins_name": "测试医院", "sign_no": sign_no, "input": inp}


s = requests.Session()
r = s.post(url, data=json.dumps(envelope("9001", 0, "", {"signIn": {"opter_no": "001", "mac": "00-11-22-33-44-55", "ip": "127.0.0.1"}}), ensure_ascii=False).encode(), headers=headers()).json()
sign_no = r["output"]["signinoutb"]["sign_no"]
body = "43010219800101%03d" % (seq % 1000)
weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
cert = body + "10X98765432"[sum(int(d) * w for d, w in zip(body, weights)) % 11]
inp = {"data": {"mdtrt_cert_type": "02", "mdtrt_cert_no": cert, "psn_cert_type": "01", "certno": cert}}
r = s.post(url, data=json.dumps(envelope("1101", 1, sign_no, inp), ensure_ascii=False).encode(), headers=headers()).json()
c = sqlite3.connect(db, timeout=10)
c.execute("CREATE TABLE IF NOT EXISTS calls (id INTEGER PRIMARY KEY, infno TEXT, input TEXT, response TEXT)")
c.execute("INSERT INTO calls (infno, input, response) VALUES (?, ?, ?)",
          ("1101", json.dumps(inp, ensure_ascii=False), json.dumps(r, ensure_ascii=False)))
c.commit()
sys.exit(0 if r.get("infcode") == 0 else 1)
