#!/usr/bin/python3
"""Precision and recall of the shipped data classes over a generated, labelled corpus.

generate: seeded, deterministic documents (CSV exports, emails, JSON API payloads, log lines, forms,
credential files, and business documents: invoices, order tables, billing statements, remittance
advices) with true values of every shipped class planted in the formats the classes accept, with and
without their context, beside hard negatives (wrong check digits, unassigned prefixes, valid numbers
without the context keyword a class needs, GUIDs, Unix timestamps, order numbers, long digit runs,
hashes, prices, national phone numbers, ISO dates, the published test values the classes ignore) and
order, invoice, tracking and reference numbers of 9 to 22 digits after the word that names them, many
of them valid card, NHS, Aadhaar, routing or SSN numbers by chance (the classes' negative keywords and
explained_by drop them). Every value is made up by algorithm (check digits computed), none belongs to
anyone. The same documents
travel as HTTP bodies in TCP flows written to pcaps, cut so that most values straddle segments,
with exact and overlapping retransmissions, swapped neighbours, segments delivered late and segments
sent as IP fragments (later fragments sometimes out of order).
Each document is audited against the class rules before it is kept: a planted value the rules do
not call for is a generator error, and a document where some other string happens to be a valid
value (a timestamp that passes the NHS check next to "patient"), or where moving a keyword a few bytes
would change a decision, is drawn again.

score: runs goldgatectl classify over the corpus and matches findings to the labels by class and
end offset (exact match only), per class, for text, pcaps and both.

check: holds the reference rules here to the class files' context, generates with a fixed seed into a
temporary folder and scores (what CTest runs).

Usage:
  corpus.py generate OUTDIR [--seed N] [--docs N]
  corpus.py score OUTDIR --goldgatectl PATH --classes DIR [--report FILE.md] [--min 0.99]
  corpus.py check GOLDGATECTL CLASSES_DIR

Layout of OUTDIR: text/doc-NNNN.txt, pcap/flows-NN.pcap, labels.json (per text file: a list of
{class, end_offset, value}; per pcap: per flow "src:sport>dst:dport", per direction "orig"/"reply",
the same list over that direction's byte stream), decoys.json (the hard negatives, same keys, as
{kind, start, end}), streams/ (each flow direction's byte stream, for reading a failure), corpus.json
(seed and counts).
"""
import argparse
import base64
import collections
import json
import math
import os
import random
import re
import subprocess
import sys
import tempfile
import time

from scapy.all import IP, TCP, Ether, Raw, fragment, wrpcap

CLASSES = ["aadhaar", "api-token", "aws-access-key", "email", "iban", "jwt", "payment-card", "phone-e164",
           "private-key-pem", "uk-nhs", "us-routing", "us-ssn"]
# Validated classes (checksums, and the SSN's structure): held to the precision and recall target.
HELD = ["payment-card", "iban", "aadhaar", "uk-nhs", "us-routing", "us-ssn"]
CHECK_SEED = 20240301
DEFAULT_DOCS = 380

DIG = frozenset("0123456789")
UPPER = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
ALNUM = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
WORD = ALNUM | {"_"}


class GeneratorError(Exception):
    pass


# ---------------------------------------------------------------------------------------------
# Validators: the rules of datapolicy/src/validators.cc.

def split_groups(s):
    """Digits and group sizes of `s` written as digit groups separated by single separators of one
    kind (space or dash), none leading or trailing, at most 19 digits; None for anything else."""
    digits, sizes, sep, run = [], [], None, 0
    for c in s:
        if c in DIG:
            if len(digits) == 19:
                return None
            digits.append(c)
            run += 1
        elif c in " -":
            if run == 0 or (sep is not None and c != sep):
                return None
            sep = c
            sizes.append(run)
            run = 0
        else:
            return None
    if run == 0:
        return None
    sizes.append(run)
    return "".join(digits), sizes


def luhn_sum(digits):
    total = 0
    for i, c in enumerate(reversed(digits)):
        d = int(c)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10


def luhn_complete(body):
    """`body` followed by its Luhn check digit."""
    return body + str((10 - luhn_sum(body + "0")) % 10)


CARD_ISSUERS = [  # (lo, hi, prefix digits, lengths)
    (4, 4, 1, {13, 16, 19}), (51, 55, 2, {16}), (2221, 2720, 4, {16}), (34, 34, 2, {15}), (37, 37, 2, {15}),
    (6011, 6011, 4, set(range(16, 20))), (644, 649, 3, set(range(16, 20))), (65, 65, 2, set(range(16, 20))),
    (3528, 3589, 4, set(range(16, 20))), (300, 305, 3, set(range(14, 20))), (36, 36, 2, set(range(14, 20))),
    (38, 39, 2, set(range(14, 20))), (62, 62, 2, set(range(16, 20))), (50, 50, 2, set(range(12, 20))),
    (56, 58, 2, set(range(12, 20))), (6304, 6304, 4, set(range(12, 20))), (6759, 6759, 4, set(range(12, 20))),
    (676770, 676770, 6, set(range(12, 20))), (676774, 676774, 6, set(range(12, 20))),
]


def card_issuer_ok(digits):
    return any(len(digits) in lengths and lo <= int(digits[:n]) <= hi for lo, hi, n, lengths in CARD_ISSUERS)


def card_valid(s):
    g = split_groups(s)
    return g is not None and 12 <= len(g[0]) <= 19 and luhn_sum(g[0]) == 0 and card_issuer_ok(g[0])


IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BI": 27, "BR": 29,
    "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27, "DK": 18, "DO": 28, "EE": 20, "EG": 29,
    "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28,
    "HN": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20,
    "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "LY": 25, "MC": 27, "MD": 24, "ME": 22, "MK": 19,
    "MN": 20, "MR": 27, "MT": 31, "MU": 30, "NI": 28, "NL": 18, "NO": 15, "OM": 23, "PK": 24, "PL": 28, "PS": 29,
    "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33, "SA": 24, "SC": 31, "SD": 18, "SE": 24, "SI": 19, "SK": 24,
    "SM": 27, "SO": 23, "ST": 25, "SV": 28, "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
    "YE": 30,
}


def iban_mod97(s):
    """ISO 7064 mod 97-10 of an IBAN (without spaces): 1 when the check digits are right."""
    r = 0
    for c in s[4:] + s[:4]:
        r = (r * 10 + int(c)) % 97 if c in DIG else (r * 100 + ord(c) - ord("A") + 10) % 97
    return r


def iban_valid(s):
    chars, run, spaced = [], 0, False
    for c in s:
        if c == " ":
            if run != 4:
                return False
            spaced, run = True, 0
            continue
        if len(chars) == 34:
            return False
        chars.append(c)
        run += 1
    if run == 0 or (spaced and run > 4):
        return False
    v = "".join(chars)
    if len(v) < 5 or not (v[0] in UPPER and v[1] in UPPER and v[2] in DIG and v[3] in DIG):
        return False
    if IBAN_LENGTHS.get(v[:2]) != len(v) or any(c not in UPPER and c not in DIG for c in v[4:]):
        return False
    return iban_mod97(v) == 1


def ssn_valid(s):
    g = split_groups(s)
    if g is None or g[1] not in ([9], [3, 2, 4]):
        return False
    d = g[0]
    if d[:3] in ("000", "666") or d[0] == "9" or d[3:5] == "00" or d[5:] == "0000":
        return False
    return d not in ("078051120", "219099999", "123456789")


VERHOEFF_D = [
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 2, 3, 4, 0, 6, 7, 8, 9, 5], [2, 3, 4, 0, 1, 7, 8, 9, 5, 6],
    [3, 4, 0, 1, 2, 8, 9, 5, 6, 7], [4, 0, 1, 2, 3, 9, 5, 6, 7, 8], [5, 9, 8, 7, 6, 0, 4, 3, 2, 1],
    [6, 5, 9, 8, 7, 1, 0, 4, 3, 2], [7, 6, 5, 9, 8, 2, 1, 0, 4, 3], [8, 7, 6, 5, 9, 3, 2, 1, 0, 4],
    [9, 8, 7, 6, 5, 4, 3, 2, 1, 0],
]
VERHOEFF_P = [
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 5, 7, 6, 2, 8, 3, 0, 9, 4], [5, 8, 0, 3, 7, 9, 6, 1, 4, 2],
    [8, 9, 1, 6, 0, 4, 3, 5, 2, 7], [9, 4, 5, 3, 1, 2, 6, 8, 7, 0], [4, 2, 8, 6, 5, 7, 3, 9, 0, 1],
    [2, 7, 9, 3, 8, 0, 6, 4, 1, 5], [7, 0, 4, 6, 9, 1, 3, 2, 5, 8],
]
VERHOEFF_INV = [0, 4, 3, 2, 1, 5, 6, 7, 8, 9]


def verhoeff_ok(digits):
    c = 0
    for pos, ch in enumerate(reversed(digits)):
        c = VERHOEFF_D[c][VERHOEFF_P[pos % 8][int(ch)]]
    return c == 0


def verhoeff_complete(body):
    c = 0
    for pos, ch in enumerate(reversed(body)):
        c = VERHOEFF_D[c][VERHOEFF_P[(pos + 1) % 8][int(ch)]]
    return body + str(VERHOEFF_INV[c])


def aadhaar_valid(s):
    g = split_groups(s)
    return g is not None and g[1] in ([12], [4, 4, 4]) and g[0][0] >= "2" and verhoeff_ok(g[0])


ABA_PREFIXES = list(range(0, 13)) + list(range(21, 33)) + list(range(61, 73)) + [80]


def aba_sum(d):
    return (3 * (d[0] + d[3] + d[6]) + 7 * (d[1] + d[4] + d[7]) + d[2] + d[5] + d[8]) % 10


def aba_valid(s):
    if len(s) != 9 or any(c not in DIG for c in s) or s == "000000000":
        return False
    return int(s[:2]) in ABA_PREFIXES and aba_sum([int(c) for c in s]) == 0


def nhs_check(body):
    """The NHS check digit of nine digits, or None where the remainder makes it 10 (never issued)."""
    check = 11 - sum(int(c) * (10 - i) for i, c in enumerate(body)) % 11
    return None if check == 10 else (0 if check == 11 else check)


def nhs_valid(s):
    g = split_groups(s)
    if g is None or g[1] not in ([10], [3, 3, 4]):
        return False
    return nhs_check(g[0][:9]) == int(g[0][9])


def entropy(s):
    n = len(s)
    return -sum(k / n * math.log2(k / n) for k in collections.Counter(s).values()) if n else 0.0


def entropy_valid(s):
    return any(c in DIG for c in s) and any(c in ALNUM and c not in DIG for c in s) and entropy(s) >= 4.3


# ---------------------------------------------------------------------------------------------
# The class rules, as a reference: what a document calls for (used to audit generated documents;
# the engine is what `score` measures).

def digit_token(c):
    return c in DIG or c in " -"


def iban_token(c):
    return c in ALNUM or c == " "


def digits_only(v):
    return "".join(c for c in v if c in DIG)


class NumberClass:
    """A class found by pattern, then the longest valid value ending where the pattern ends; then its
    context decides (see `verdict`)."""

    def __init__(self, name, regexes, valid, max_length, token, boundary="digit", keywords=(), required=False,
                 ignore=(), norm=digits_only, negative=(), explained_by=(), window=64):
        self.name = name
        self.rx = [re.compile(r"(?<![A-Za-z0-9_])(?:%s)\Z" % r, re.A) for r in regexes]
        self.valid, self.max_length, self.token, self.boundary = valid, max_length, token, boundary
        self.keywords, self.required, self.norm = [k.lower() for k in keywords], required, norm
        self.ignore = {norm(v) for v in ignore}
        self.digit_class = token is digit_token
        self.negative, self.explained_by, self.window = [k.lower() for k in negative], list(explained_by), window


CARD_TEST_NUMBERS = ["4111111111111111", "4012888888881881", "4242424242424242", "5555555555554444", "5105105105105100",
                     "378282246310005", "371449635398431", "6011111111111117", "3530111333300000", "30569309025904"]
# The context of the shipped class files (`check` holds these to them).
CARD_KEYWORDS = ["card", "credit", "debit", "visa", "mastercard", "amex", "card number", "cardholder", "pan"]
SSN_KEYWORDS = ["ssn", "social security", "ss#", "soc sec", "taxpayer"]
AADHAAR_KEYWORDS = ["aadhaar", "aadhar", "uidai", "uid no", "uid:", "unique identification"]
NHS_KEYWORDS = ["nhs", "national health", "health service", "patient", "nhs no"]
ROUTING_KEYWORDS = ["routing", "aba", "rtn", "transit number", "routing number"]
IBAN_KEYWORDS = ["iban", "account", "bank", "bank account", "transfer", "beneficiary"]
# Words that name the number after them as something else; the ones every numeric class has.
BUSINESS_WORDS = ["order", "invoice", "inv", "tracking", "ref", "reference", "po", "sku"]
CARD_NEGATIVE = BUSINESS_WORDS + ["purchase order", "part no", "serial", "imei", "waybill", "awb", "consignment",
                                  "shipment", "parcel", "booking", "confirmation", "transaction id", "customer no",
                                  "customer id", "receipt no"]
SSN_NEGATIVE = BUSINESS_WORDS + ["case no", "claim no", "account no", "account number", "acct", "phone", "tel", "fax"]
AADHAAR_NEGATIVE = BUSINESS_WORDS + ["account", "acct", "customer id", "mobile", "phone"]
NHS_NEGATIVE = BUSINESS_WORDS + ["account", "acct", "booking", "mrn", "hospital no", "hospital number", "case no",
                                 "claim no", "phone", "tel", "telephone", "mobile", "fax"]
ROUTING_NEGATIVE = BUSINESS_WORDS + ["account no", "account number", "acct", "check no", "check number", "cheque no",
                                     "serial", "phone", "tel", "zip"]
IBAN_NEGATIVE = ["tracking", "sku", "serial", "part no", "model no", "imei"]
NEGATIVE_WINDOW = 32

NUMBER_CLASSES = [
    NumberClass("payment-card", [r"(?:\d[ -]?){11,18}\d"], card_valid, 23, digit_token, ignore=CARD_TEST_NUMBERS,
                keywords=CARD_KEYWORDS, negative=CARD_NEGATIVE, explained_by=["aadhaar"]),
    NumberClass("us-ssn", [r"\d{3}-\d{2}-\d{4}", r"\d{3} \d{2} \d{4}"], ssn_valid, 11, digit_token,
                keywords=SSN_KEYWORDS, negative=SSN_NEGATIVE),
    NumberClass("aadhaar", [r"[2-9]\d{3}[ -]?\d{4}[ -]?\d{4}"], aadhaar_valid, 14, digit_token,
                keywords=AADHAAR_KEYWORDS, required=True, negative=AADHAAR_NEGATIVE, explained_by=["payment-card"]),
    NumberClass("uk-nhs", [r"\d{3}[ -]?\d{3}[ -]?\d{4}"], nhs_valid, 12, digit_token, keywords=NHS_KEYWORDS,
                required=True, negative=NHS_NEGATIVE),
    NumberClass("us-routing", [r"\d{9}"], aba_valid, 9, digit_token, keywords=ROUTING_KEYWORDS, required=True,
                negative=ROUTING_NEGATIVE),
    NumberClass("iban", [r"[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}"], iban_valid, 42, iban_token, boundary="word",
                norm=lambda v: v.replace(" ", "").replace("-", "").upper(), keywords=IBAN_KEYWORDS,
                negative=IBAN_NEGATIVE),
]
NUMBER_BY_NAME = {nc.name: nc for nc in NUMBER_CLASSES}

PATTERN_CLASSES = [  # (class, regex, ignore): values are what the pattern matches, longest
    ("email",
     re.compile(r"\b[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})*\.[A-Za-z]{2,24}\b", re.A), ()),
    ("phone-e164", re.compile(r"\+[1-9]\d{7,14}\b", re.A), ()),
    ("aws-access-key", re.compile(r"\b(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z0-9]{16}\b", re.A),
     ("AKIAIOSFODNN7EXAMPLE",)),
    ("jwt", re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}", re.A), ()),
    ("private-key-pem", re.compile(r"-----BEGIN (?:RSA |EC |DSA |OPENSSH |ENCRYPTED )?PRIVATE KEY-----"), ()),
]
TOKEN_RUN = re.compile(r"[A-Za-z0-9_-]{32,}")
# Values and decoys inside which a high-entropy run is no api-token of its own (parts of a JWT, a PEM body,
# a long IBAN written without spaces, a secret with '/' or '+'): the documents keep them, and an api-token
# finding there counts as a false one.
TOKEN_HOSTS = ("jwt", "api-token", "iban")
TOKEN_HOST_DECOYS = ("pem-body", "iban-bad-check", "iban-lower-case", "iban-unknown-country", "iban-bad-length")


def value_ends(text):
    """Offsets where a value of a pattern ending in \\b after a letter or digit can end."""
    n = len(text)
    return [e for e in range(1, n + 1) if text[e - 1] in ALNUM and (e == n or text[e] not in WORD)]


def number_values(nc, text, ends):
    """(start, end, value) of every valid value of class `nc` in `text` whose digits are not followed by
    more digit groups (a value ends where its run of digit groups ends)."""
    out = []
    for e in ends:
        last = text[e - 1]
        if nc.digit_class:
            if last not in DIG:
                continue
            if e + 1 < len(text) and text[e] in " -" and text[e + 1] in DIG:
                continue
        elif last not in DIG and last not in UPPER:
            continue
        if not any(r.search(text, max(0, e - 80), e) for r in nc.rx):
            continue
        p = e
        while p > 0 and e - p < nc.max_length and nc.token(text[p - 1]):
            p -= 1
        run, value = text[p:e], None
        for i in range(len(run)):
            if run[i] not in ALNUM or (i > 0 and run[i - 1] in ALNUM):
                continue
            if i == 0 and p > 0 and (text[p - 1] in DIG or (nc.boundary == "word" and text[p - 1] in ALNUM)):
                continue
            cand = run[i:].rstrip(" -")
            if cand and nc.valid(cand):
                value = cand
                break
        if value is not None and nc.norm(value) not in nc.ignore:
            out.append((e - len(value), e, value))
    return out


FAR = 1 << 30


def keyword_hits(lower, keywords, words=False):
    """(start, end) of every keyword in `lower`; `words`: only where it is not part of a longer word."""
    out = []
    for k in keywords:
        i = lower.find(k)
        while i >= 0:
            e = i + len(k)
            if not words or not ((i > 0 and k[0] in ALNUM and lower[i - 1] in ALNUM) or
                                 (e < len(lower) and k[-1] in ALNUM and lower[e] in ALNUM)):
                out.append((i, e))
            i = lower.find(k, i + 1)
    return out


def nearest(hits, start, end, before, after):
    """Bytes from the nearest hit ending at most `before` bytes before `start` (0 if one overlaps
    [start, end)), and from `end` to the nearest starting at most `after` bytes after it; FAR for none."""
    b = a = FAR
    for ks, ke in hits:
        if ke <= start:
            if start - ke <= before:
                b = min(b, start - ke)
        elif ks >= end:
            if ks - end <= after:
                a = min(a, ks - end)
        else:
            b = 0
    return b, a


def verdict(hits, nc, start, end, value, slack=(0, 0)):
    """What the engine makes of a valid value of `nc` at [start, end): "drop", "context" or "none".
    The nearest words before it decide (a negative keyword, or the keyword of a class in explained_by
    that the value also validates as, against one of the class's own); only without any, the nearest
    after it. `slack` widens (or narrows) the context windows and the negative window."""
    own_b, own_a = nearest(hits[nc.name], start, end, nc.window + slack[0], nc.window + slack[0])
    against = nearest(hits[("negative", nc.name)], start, start, NEGATIVE_WINDOW + slack[1], -1)[0]
    explained_a = FAR
    for name in nc.explained_by:
        ec = NUMBER_BY_NAME[name]
        if ec.valid(value):
            b, a = nearest(hits[name], start, end, ec.window + slack[0], ec.window + slack[0])
            against, explained_a = min(against, b), min(explained_a, a)
    if against < own_b:
        return "drop"
    if own_b < FAR:
        return "context"
    if explained_a < own_a:
        return "drop"
    return "context" if own_a < FAR else "none"


def is_reported(nc, call):
    return call == "context" or (call == "none" and not nc.required)


# How far a context keyword (window 64) and a negative keyword (window 32) may move before a decision
# counts as too close to call: such a document is drawn again.
SLACK_NARROW, SLACK_WIDE = (-24, -8), (24, 8)


def audit(text, labels, decoys):
    """Compares what the class rules call for in `text` with the labels. Returns (errors, clashes):
    errors are labels the rules do not call for (a generator bug); clashes are strings the rules call
    for that were not planted, and values whose context is too close to call (the document is drawn
    again)."""
    errors, clashes = [], []
    planted = collections.Counter((l["class"], l["end_offset"]) for l in labels)
    found = collections.Counter()
    lower = text.lower()
    ends = value_ends(text)
    hits = {}
    for nc in NUMBER_CLASSES:
        hits[nc.name] = keyword_hits(lower, nc.keywords)
        hits[("negative", nc.name)] = keyword_hits(lower, nc.negative, words=True)
    for nc in NUMBER_CLASSES:
        for s, e, v in number_values(nc, text, ends):
            key = (nc.name, e)
            call = verdict(hits, nc, s, e, v)
            reported = is_reported(nc, call)
            if any(is_reported(nc, verdict(hits, nc, s, e, v, x)) != reported for x in (SLACK_NARROW, SLACK_WIDE)):
                clashes.append("%s %r at %d: context too close to call" % (nc.name, v, e))
                if key in planted:
                    found[key] += 1
                continue
            if key in planted:
                if not reported:
                    errors.append("%s %r at %d: the context drops it (%s)" % (nc.name, v, e, call))
                found[key] += 1
            elif reported:
                clashes.append("%s %r at %d (%s)" % (nc.name, v, e, call))
    for cls, rx, ignore in PATTERN_CLASSES:
        for m in rx.finditer(text):
            if m.group(0) in ignore:
                continue
            if (cls, m.end()) in planted:
                found[(cls, m.end())] += 1
            else:
                clashes.append("%s %r at %d" % (cls, m.group(0), m.end()))
    hosts = [(l["end_offset"] - len(l["value"]), l["end_offset"]) for l in labels if l["class"] in TOKEN_HOSTS]
    hosts += [(d["start"], d["end"]) for d in decoys if d["kind"] in TOKEN_HOST_DECOYS]
    for m in TOKEN_RUN.finditer(text):
        if entropy_valid(m.group(0)) and not any(a <= m.start() and m.end() <= b for a, b in hosts):
            clashes.append("api-token %r at %d" % (m.group(0), m.end()))
    for l in labels:
        if l["class"] == "api-token":
            continue
        if text[l["end_offset"] - len(l["value"]):l["end_offset"]] != l["value"]:
            errors.append("%s %r: not at %d" % (l["class"], l["value"], l["end_offset"]))
        elif found[(l["class"], l["end_offset"])] == 0:
            errors.append("%s %r at %d: the class rules do not call for it" % (l["class"], l["value"], l["end_offset"]))
    return errors, clashes


# ---------------------------------------------------------------------------------------------
# Values and decoys.

FIRST = ["Jane", "John", "Priya", "Arjun", "Oliver", "Amelia", "Mohammed", "Fatima", "Lukas", "Sofia", "Kenji",
         "Yuki", "Carlos", "Lucia", "Chen", "Mei", "Olga", "Ivan", "Grace", "Samuel", "Aisha", "Kwame", "Emma",
         "Noah", "Ravi", "Ananya", "Liam", "Chloe", "Mateo", "Ingrid"]
LAST = ["Roe", "Doe", "Sharma", "Patel", "Smith", "Jones", "Khan", "Ali", "Muller", "Rossi", "Tanaka", "Sato",
        "Garcia", "Lopez", "Wang", "Li", "Petrova", "Ivanov", "Okafor", "Mensah", "Brown", "Wilson", "Iyer",
        "Reddy", "Murphy", "Martin", "Silva", "Nilsen", "Novak", "Dubois"]
DOMAINS = ["example.com", "example.org", "example.net", "mail.example.com", "eu.mail.example.net", "bank.example",
           "billing.example.org", "clinic.test", "post.example.com", "example.com"]  # reserved names only

CARD_BRANDS = [  # (weight, prefix chooser, lengths)
    (24, lambda r: "4", [16]), (2, lambda r: "4", [13]), (2, lambda r: "4", [19]),
    (16, lambda r: str(r.randint(51, 55)), [16]), (6, lambda r: str(r.randint(2221, 2720)), [16]),
    (10, lambda r: r.choice(["34", "37"]), [15]),
    (7, lambda r: r.choice(["6011", str(r.randint(644, 649)), "65"]), [16]),
    (1, lambda r: r.choice(["6011", "65"]), [19]),
    (5, lambda r: str(r.randint(3528, 3589)), [16]),
    (4, lambda r: r.choice([str(r.randint(300, 305)), "36", "38", "39"]), [14]),
    (4, lambda r: "62", [16]), (2, lambda r: "62", [19]),
    (6, lambda r: r.choice(["50", "56", "57", "58", "6304", "6759", "676770", "676774"]), [12, 13, 16, 16, 18, 19]),
]
CARD_GROUPS = {12: (4, 4, 4), 13: (4, 4, 5), 14: (4, 6, 4), 15: (4, 6, 5), 16: (4, 4, 4, 4), 18: (4, 4, 4, 4, 2),
               19: (4, 4, 4, 4, 3)}

IBAN_BBAN = {  # BBAN layouts (n digits, a upper-case letters, c letters or digits)
    "DE": "18n", "GB": "4a14n", "FR": "10n11c2n", "ES": "20n", "IT": "1a10n12c", "NL": "4a10n", "BE": "12n",
    "CH": "5n12c", "AT": "16n", "PL": "24n", "SE": "20n", "DK": "14n", "NO": "11n", "FI": "14n", "IE": "4a14n",
    "PT": "21n", "LU": "3n13c", "CZ": "20n", "RO": "4a16c", "HU": "24n", "MT": "4a5n18c", "SA": "2n18c",
    "AE": "19n", "BR": "23n1a1c", "GI": "4a15c", "LC": "4a24c", "RU": "14n15c", "GR": "7n16c", "TR": "6n16c",
    "IL": "19n",
}
for _cc, _layout in IBAN_BBAN.items():
    assert 4 + sum(int(n) for n in re.findall(r"\d+", _layout)) == IBAN_LENGTHS[_cc], _cc


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Gen:
    """Random values (all made up, check digits computed) and decoys, from one seeded generator."""

    def __init__(self, rng):
        self.r = rng

    def chance(self, p):
        return self.r.random() < p

    def pick(self, seq):
        return self.r.choice(seq)

    def digits(self, n):
        return "".join(self.r.choice("0123456789") for _ in range(n))

    def alnum(self, n, chars="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"):
        return "".join(self.r.choice(chars) for _ in range(n))

    # -- people
    def person(self):
        first, last = self.pick(FIRST), self.pick(LAST)
        sep = self.pick([".", "_", "", "."])
        local = self.pick([first.lower() + sep + last.lower(), first[0].lower() + last.lower(),
                           first.lower() + str(self.r.randint(1, 99))])
        return first, last, local + "@" + self.pick(DOMAINS)

    def team_email(self):
        team = self.pick(["accounts", "billing", "support", "kyc", "payroll", "records", "ops"])
        return team + "@" + self.pick(DOMAINS)

    def phone_e164(self):
        r = self.r
        return self.pick([
            lambda: "+1%d555%04d" % (r.randint(201, 989), r.randint(100, 199)),
            lambda: "+447700900%03d" % r.randint(0, 999),
            lambda: "+4915%d%s" % (r.randint(1, 9), self.digits(8)),
            lambda: "+919%s" % self.digits(9),
            lambda: "+3363998%s" % self.digits(4),
            lambda: "+61491570%03d" % r.randint(6, 159),
            lambda: "+8190%s" % self.digits(8),
            lambda: "+55119%s" % self.digits(8),
        ])()

    def phone_national(self):
        r = self.r
        return self.pick([
            lambda: "(%d) 555-%04d" % (r.randint(201, 989), r.randint(100, 199)),
            lambda: "020 7946 %04d" % r.randint(0, 999),
            lambda: "07700 900%03d" % r.randint(0, 999),
            lambda: "030 %s" % self.digits(8),
            lambda: "0%d %s" % (r.randint(11, 99), self.digits(7)),
            lambda: "555-%03d-%04d" % (r.randint(100, 999), r.randint(0, 9999)),
            lambda: "098%s %s" % (self.digits(3), self.digits(5)),
            lambda: "+44 20 7946 %04d" % r.randint(0, 999),
            lambda: "+1 (415) 555-%04d" % r.randint(100, 199),
        ])()

    # -- payment cards
    def card_number(self):
        r = self.r
        while True:
            _, prefix, lengths = r.choices(CARD_BRANDS, weights=[b[0] for b in CARD_BRANDS])[0]
            p, n = prefix(r), r.choice(lengths)
            number = luhn_complete(p + self.digits(n - len(p) - 1))
            if number not in CARD_TEST_NUMBERS:
                return number

    def card_format(self, number, sep=None):
        if sep is None:
            sep = self.r.choices(["", " ", "-"], weights=[4, 4, 2])[0]
        if not sep:
            return number
        out, i = [], 0
        for g in CARD_GROUPS[len(number)]:
            out.append(number[i:i + g])
            i += g
        return sep.join(out)

    def card(self):
        return self.card_format(self.card_number())

    def card_decoy(self):
        kind = self.pick(["card-bad-luhn", "card-bad-luhn", "card-bad-issuer", "card-test-number",
                          "card-mixed-separators", "card-in-long-run"])
        n = self.card_number()
        if kind == "card-bad-luhn":
            return kind, self.card_format(n[:-1] + str((int(n[-1]) + self.r.randint(1, 9)) % 10))
        if kind == "card-bad-issuer":  # Luhn-valid, but no issuer has the prefix (or not at that length)
            body = "4" + self.digits(13) if self.chance(0.3) else self.pick("1789") + self.digits(14)
            return kind, self.card_format(luhn_complete(body))
        if kind == "card-test-number":
            t = self.pick(CARD_TEST_NUMBERS)
            return kind, self.card_format(t) if len(t) in CARD_GROUPS else t
        if kind == "card-mixed-separators":
            groups = self.card_format(n, " ").split(" ")
            seps = [self.pick([" ", "-"]) for _ in groups[1:]]
            if len(set(seps)) == 1:
                seps[0] = "-" if seps[0] == " " else " "
            return kind, groups[0] + "".join(s + g for s, g in zip(seps, groups[1:]))
        left = self.r.randint(2, 5)
        return kind, self.digits(left) + n + self.digits(max(self.r.randint(2, 5), 21 - len(n) - left))

    # -- IBAN
    def iban_raw(self, country=None):
        cc = country or self.pick(sorted(IBAN_BBAN))
        bban = ""
        for n, kind in re.findall(r"(\d+)([anc])", IBAN_BBAN[cc]):
            for _ in range(int(n)):
                if kind == "n":
                    bban += self.pick("0123456789")
                elif kind == "a":
                    bban += self.pick("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
                else:
                    bban += self.pick("0123456789") if self.chance(0.75) else self.pick("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
        check = 98 - iban_mod97(cc + "00" + bban)
        return "%s%02d%s" % (cc, check, bban)

    def iban_format(self, raw, grouped=None):
        if grouped is None:
            grouped = self.chance(0.5)
        return " ".join(raw[i:i + 4] for i in range(0, len(raw), 4)) if grouped else raw

    def iban(self):
        return self.iban_format(self.iban_raw())

    def iban_decoy(self):
        kind = self.pick(["iban-bad-check", "iban-bad-check", "iban-lower-case", "iban-unknown-country",
                          "iban-bad-length"])
        raw = self.iban_raw()
        if kind == "iban-bad-check":
            check = (int(raw[2:4]) + self.r.randint(1, 90)) % 97 + 2
            if check == int(raw[2:4]):
                check = check + 1 if check < 98 else 2
            raw = "%s%02d%s" % (raw[:2], check, raw[4:])
            return kind, self.iban_format(raw)
        if kind == "iban-lower-case":
            return kind, self.iban_format(raw).lower()
        if kind == "iban-unknown-country":
            cc = self.pick(["XA", "QZ", "ZZ", "UK"])
            bban = raw[4:]
        else:
            cc = raw[:2]
            bban = raw[4:] + self.digits(self.r.randint(1, 3)) if self.chance(0.5) else raw[4:-2]
        check = 98 - iban_mod97(cc + "00" + bban)
        return kind, self.iban_format("%s%02d%s" % (cc, check, bban))

    # -- national identifiers, routing numbers
    def ssn(self):
        while True:
            area = self.r.randint(1, 899)
            if area == 666:
                continue
            d = "%03d%02d%04d" % (area, self.r.randint(1, 99), self.r.randint(1, 9999))
            if ssn_valid(d):
                sep = self.r.choices(["-", " "], weights=[7, 3])[0]
                return sep.join([d[:3], d[3:5], d[5:]])

    def ssn_decoy(self):
        kind = self.pick(["ssn-area-000", "ssn-area-666", "ssn-area-9xx", "ssn-group-00", "ssn-serial-0000",
                          "ssn-advertised", "ssn-mixed-separators"])
        r = self.r
        a, g, s = "%03d" % r.randint(1, 899), "%02d" % r.randint(1, 99), "%04d" % r.randint(1, 9999)
        if a == "666":
            a = "667"
        if kind == "ssn-area-000":
            a = "000"
        elif kind == "ssn-area-666":
            a = "666"
        elif kind == "ssn-area-9xx":
            a = str(r.randint(900, 999))
        elif kind == "ssn-group-00":
            g = "00"
        elif kind == "ssn-serial-0000":
            s = "0000"
        elif kind == "ssn-advertised":
            a, g, s = self.pick([("078", "05", "1120"), ("219", "09", "9999"), ("123", "45", "6789")])
        if kind == "ssn-mixed-separators":
            return kind, a + "-" + g + " " + s if self.chance(0.5) else a + " " + g + "-" + s
        return kind, "-".join([a, g, s])

    def aadhaar_number(self):
        return verhoeff_complete(str(self.r.randint(2, 9)) + self.digits(10))

    def aadhaar_format(self, d):
        sep = self.r.choices([" ", "", "-"], weights=[5, 3, 2])[0]
        return sep.join([d[:4], d[4:8], d[8:]])

    def aadhaar(self):
        return self.aadhaar_format(self.aadhaar_number())

    def aadhaar_decoy(self):
        """A number that looks like an Aadhaar number, for beside a keyword: wrong check digit, or a
        leading 0 or 1."""
        if self.chance(0.6):
            d = self.aadhaar_number()
            return "aadhaar-bad-check", self.aadhaar_format(d[:-1] + str((int(d[-1]) + self.r.randint(1, 9)) % 10))
        return "aadhaar-leading-0-or-1", self.aadhaar_format(verhoeff_complete(self.pick("01") + self.digits(10)))

    def nhs_number(self):
        while True:
            body = str(self.r.randint(3, 7)) + self.digits(8)
            c = nhs_check(body)
            if c is not None:
                return body + str(c)

    def nhs_format(self, d):
        sep = self.r.choices([" ", "", "-"], weights=[5, 3, 2])[0]
        return sep.join([d[:3], d[3:6], d[6:]])

    def nhs(self):
        return self.nhs_format(self.nhs_number())

    def nhs_decoy(self):
        while True:
            body = str(self.r.randint(3, 7)) + self.digits(8)
            c = nhs_check(body)
            if c is None:
                return "nhs-check-10", self.nhs_format(body + self.pick("0123456789"))
            if self.chance(0.7):
                return "nhs-bad-check", self.nhs_format(body + str((c + self.r.randint(1, 9)) % 10))

    def aba(self):
        p = "%02d" % self.pick(ABA_PREFIXES[1:])
        d = [int(c) for c in p + self.digits(6)] + [0]
        d[8] = (10 - aba_sum(d)) % 10
        return "".join(map(str, d))

    def aba_decoy(self):
        if self.chance(0.5):
            v = self.aba()
            return "aba-bad-check", v[:-1] + str((int(v[-1]) + self.r.randint(1, 9)) % 10)
        p = "%02d" % self.pick([p for p in range(13, 100) if p not in ABA_PREFIXES])
        d = [int(c) for c in p + self.digits(6)] + [0]
        d[8] = (10 - aba_sum(d)) % 10
        return "aba-bad-prefix", "".join(map(str, d))

    def account_number(self):
        return self.digits(self.pick([8, 10, 11, 12]))

    # -- secrets
    def jwt(self):
        r = self.r
        alg = self.pick(["HS256", "HS256", "ES256"])
        now = r.randint(1600000000, 1760000000)
        header = json.dumps({"alg": alg, "typ": "JWT"}, separators=(",", ":")).encode()
        payload = json.dumps({"sub": str(r.randint(1000, 99999999)),
                              "name": "%s %s" % (self.pick(FIRST), self.pick(LAST)), "iat": now, "exp": now + 3600,
                              "scope": self.pick(["read", "read write", "admin"])}, separators=(",", ":")).encode()
        sig = bytes(r.getrandbits(8) for _ in range(32 if alg == "HS256" else 64))
        return "%s.%s.%s" % (b64url(header), b64url(payload), b64url(sig))

    def api_token(self):
        while True:
            t = self.pick([
                lambda: "sk_live_" + self.alnum(32),
                lambda: "ghp_" + self.alnum(36),
                lambda: self.alnum(40),
                lambda: b64url(bytes(self.r.getrandbits(8) for _ in range(32))),
            ])()
            if entropy_valid(t) and entropy(t) >= 4.5:
                return t

    def aws_secret(self):
        while True:
            t = self.alnum(40, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
            if entropy_valid(t) and entropy(t) >= 4.5:
                return t

    def aws_key_id(self):
        return self.pick(["AKIA", "AKIA", "ASIA", "AIDA", "AROA"]) + self.alnum(16, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")

    def pem_body(self, lines):
        data = bytes(self.r.getrandbits(8) for _ in range(48 * lines))
        b = base64.b64encode(data).decode()
        return "\n".join(b[i:i + 64] for i in range(0, len(b), 64))

    # -- hard negatives
    def guid(self):
        h = self.alnum(32, "0123456789abcdef")
        g = "%s-%s-4%s-%s%s-%s" % (h[:8], h[8:12], h[13:16], self.pick("89ab"), h[17:20], h[20:32])
        return g.upper() if self.chance(0.2) else g

    def ts10(self):
        return str(self.r.randint(1500000000, 1760000000))

    def ts13(self):
        return self.ts10() + self.digits(3)

    def iso_date(self):
        return "%04d-%02d-%02d" % (self.r.randint(1950, 2025), self.r.randint(1, 12), self.r.randint(1, 28))

    def iso_datetime(self):
        r = self.r
        return "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ" % (r.randint(2019, 2025), r.randint(1, 12), r.randint(1, 28),
                                                        r.randint(0, 23), r.randint(0, 59), r.randint(0, 59),
                                                        r.randint(0, 999))

    def order_number(self):
        r = self.r
        return self.pick([
            lambda: "ORD-%d-%06d" % (r.randint(2019, 2025), r.randint(0, 999999)),
            lambda: "SO%08d" % r.randint(0, 99999999),
            lambda: "#%07d" % r.randint(0, 9999999),
            lambda: "PO-%s" % self.digits(10),
            lambda: self.digits(9),
            lambda: "INV/%d/%05d" % (r.randint(2019, 2025), r.randint(0, 99999)),
        ])()

    def long_run(self):
        return str(self.r.randint(1, 9)) + self.digits(self.r.randint(19, 29))

    def hex_hash(self):
        return self.alnum(self.pick([32, 40, 64]), "0123456789abcdef")

    def price(self):
        r = self.r
        return self.pick([
            lambda: "$%d,%03d.%02d" % (r.randint(1, 9), r.randint(0, 999), r.randint(0, 99)),
            lambda: "EUR %d.%02d" % (r.randint(1, 9999), r.randint(0, 99)),
            lambda: "%d.%02d" % (r.randint(1, 99999), r.randint(0, 99)),
            lambda: "GBP %d.%02d" % (r.randint(1, 999), r.randint(0, 99)),
            lambda: "%d.%03d,%02d EUR" % (r.randint(1, 99), r.randint(0, 999), r.randint(0, 99)),
        ])()

    # -- business numbers: order, invoice, tracking and reference numbers
    def grouped(self, digits, sizes, sep):
        out, i = [], 0
        for n in sizes:
            out.append(digits[i:i + n])
            i += n
        if i < len(digits):
            out.append(digits[i:])
        return sep.join(x for x in out if x)

    def business_sep(self):
        return self.r.choices(["", " ", "-"], weights=[7, 2, 1])[0]

    def card_of_length(self, n):
        """A Luhn-valid number of n digits (12 to 19) with an issuer prefix issued at that length."""
        lo, hi, k = self.pick([(lo, hi, k) for lo, hi, k, lengths in CARD_ISSUERS if n in lengths])
        while True:
            v = luhn_complete(str(self.r.randint(lo, hi)) + self.digits(n - k - 1))
            if v not in CARD_TEST_NUMBERS:
                return v

    def aadhaar_card(self):
        """Twelve digits that are an Aadhaar number (Verhoeff, first digit 2-9) and a Maestro card number
        (Luhn) at once."""
        while True:
            prefix = self.pick(["50", "56", "57", "58", "6304", "6759"])
            v = verhoeff_complete(prefix + self.digits(11 - len(prefix)))
            if card_valid(v):
                return v

    def plain_number(self, n):
        """n digits that no numeric class takes as written (plain in a table, far from any label)."""
        while True:
            v = self.digits(n)
            if not any(ok(v) for ok in (card_valid, nhs_valid, aadhaar_valid, aba_valid, ssn_valid)):
                return v

    def business_number(self, prefer=None):
        """(kind, number as written) for an order, invoice, tracking or reference number: 9 to 22 digits,
        many of them valid values of a class by chance (check digits computed). `prefer` ("nhs",
        "verhoeff", "aba", "luhn") makes that kind likelier."""
        weights = {"luhn": 30, "nhs": 12, "verhoeff": 10, "aadhaar-luhn": 6, "aba": 10, "ssn": 5, "plain": 27}
        if prefer:
            weights[prefer] += 60
        kind = self.r.choices(list(weights), weights=list(weights.values()))[0]
        sep = self.business_sep()
        if kind == "luhn":
            v = self.card_of_length(self.r.randint(12, 19))
            return "business-luhn", self.grouped(v, [4] * 5, sep)
        if kind == "nhs":
            return "business-nhs", self.grouped(self.nhs_number(), [3, 3, 4], sep)
        if kind == "verhoeff":
            return "business-verhoeff", self.grouped(self.aadhaar_number(), [4, 4, 4], sep)
        if kind == "aadhaar-luhn":
            return "business-verhoeff-luhn", self.grouped(self.aadhaar_card(), [4, 4, 4], sep)
        if kind == "aba":
            return "business-aba", self.aba()
        if kind == "ssn":
            return "business-ssn", self.ssn().replace(" ", "-")
        return "business-number", self.plain_number(self.r.randint(9, 22))

    def misc_decoy(self):
        kind = self.pick(["guid", "unix-ts-10", "unix-ts-13", "order-number", "long-digit-run", "hex-hash", "price",
                          "phone-national", "iso-date", "iso-datetime", "aws-example-key", "aws-lower-case",
                          "jwt-unsigned", "short-token"])
        return kind, {
            "guid": self.guid, "unix-ts-10": self.ts10, "unix-ts-13": self.ts13, "order-number": self.order_number,
            "long-digit-run": self.long_run, "hex-hash": self.hex_hash, "price": self.price,
            "phone-national": self.phone_national, "iso-date": self.iso_date, "iso-datetime": self.iso_datetime,
            "aws-example-key": lambda: "AKIAIOSFODNN7EXAMPLE",
            "aws-lower-case": lambda: "akia" + self.alnum(16, "abcdefghijklmnopqrstuvwxyz234567"),
            "jwt-unsigned": lambda: "%s.%s." % (b64url(b'{"alg":"none"}'),
                                                b64url(b'{"sub":"%d"}' % self.r.randint(1, 9999))),
            "short-token": lambda: self.alnum(self.r.randint(16, 31)),
        }[kind]()


# ---------------------------------------------------------------------------------------------
# Documents.

class Doc:
    """Text with the spans of planted values and decoys."""

    def __init__(self):
        self.parts, self.n, self.values, self.decoys = [], 0, [], []

    def t(self, s):
        self.parts.append(s)
        self.n += len(s)

    def v(self, cls, s):
        self.t(s)
        self.values.append({"class": cls, "end_offset": self.n, "value": s})

    def d(self, kind, s):
        start = self.n
        self.t(s)
        self.decoys.append({"kind": kind, "start": start, "end": self.n})

    def dk(self, pair):
        self.d(*pair)

    def lv(self, label, cls, s, end="\n"):
        """A value after its label, then `end`."""
        self.t(label)
        self.v(cls, s)
        self.t(end)

    def ld(self, label, pair, end="\n"):
        """A decoy (kind, text) after its label, then `end`."""
        self.t(label)
        self.dk(pair)
        self.t(end)

    def text(self):
        return "".join(self.parts)


def misc_line(g, d):
    """A line of incidental numbers and identifiers, all hard negatives."""
    for i in range(g.r.randint(1, 3)):
        d.t(g.pick(["ref ", "id ", "note: ", "see ", "batch "]) if i == 0 else g.pick([", ", "; ", " and "]))
        d.dk(g.misc_decoy())
    d.t("\n")


def doc_csv(g, d):
    d.t("# payments export ")
    d.d("iso-datetime", g.iso_datetime())
    d.t("\nid,created_at,customer,email,phone,card_number,exp,amount,iban,order_ref,created_ts\n")
    for i in range(g.r.randint(7, 12)):
        first, last, email = g.person()
        d.t("%d," % (10000 + i))
        d.d("iso-datetime", g.iso_datetime())
        d.t(",%s %s," % (first, last))
        d.v("email", email)
        d.t(",")
        if g.chance(0.4):
            d.v("phone-e164", g.phone_e164())
        elif g.chance(0.5):
            d.d("phone-national", g.phone_national())
        d.t(",")
        if g.chance(0.8):
            d.v("payment-card", g.card())
        else:
            d.dk(g.card_decoy())
        d.t(",%02d/%02d," % (g.r.randint(1, 12), g.r.randint(25, 31)))
        price = g.price()
        d.d("price", '"%s"' % price if "," in price else price)
        d.t(",")
        if g.chance(0.55):
            d.v("iban", g.iban())
        elif g.chance(0.3):
            d.dk(g.iban_decoy())
        d.t(",")
        d.d("order-number", g.order_number())
        d.t(",")
        d.dk(("unix-ts-10", g.ts10()) if g.chance(0.5) else ("unix-ts-13", g.ts13()))
        d.t("\n")


EMAIL_SUBJECTS = ["Refund request", "Account verification", "Updated payment details", "Re: your application",
                  "Payroll change", "Registration documents"]


def doc_email(g, d):
    first, last, email = g.person()
    d.t("From: %s %s <" % (first, last))
    d.v("email", email)
    d.t(">\nTo: ")
    d.v("email", g.team_email())
    d.t("\nDate: Fri, %02d Mar 2024 %02d:%02d:%02d +0000\nSubject: %s\nX-Request-ID: " % (
        g.r.randint(1, 28), g.r.randint(0, 23), g.r.randint(0, 59), g.r.randint(0, 59), g.pick(EMAIL_SUBJECTS)))
    d.d("guid", g.guid())
    d.t("\nMIME-Version: 1.0\nContent-Type: text/plain; charset=us-ascii\n\nHello,\n\n")
    paragraphs = [
        lambda: (d.t("Please send the refund to my bank account, IBAN "), d.v("iban", g.iban()),
                 d.t(", beneficiary %s %s.\n" % (first, last))),
        lambda: (d.t("The card I paid with was "), d.v("payment-card", g.card()),
                 d.t(" (expires %02d/%02d).\n" % (g.r.randint(1, 12), g.r.randint(25, 31)))),
        lambda: (d.t("For the tax form, my social security number is "), d.v("us-ssn", g.ssn()), d.t(".\n")),
        lambda: (d.t("My Aadhaar number is "), d.v("aadhaar", g.aadhaar()), d.t(" if you need it for KYC.\n")),
        lambda: (d.t("For the clinic: my NHS number is "), d.v("uk-nhs", g.nhs()), d.t(".\n")),
        lambda: (d.t("Direct deposit details: routing number "), d.v("us-routing", g.aba()),
                 d.t(", checking account ending %s.\n" % g.digits(4))),
        lambda: (d.t("You can reach me on "), d.v("phone-e164", g.phone_e164()), d.t(" or at home on "),
                 d.d("phone-national", g.phone_national()), d.t(".\n")),
        lambda: (d.t("Order "), d.d("order-number", g.order_number()), d.t(" was placed on "),
                 d.d("iso-date", g.iso_date()), d.t(" for "), d.d("price", g.price()), d.t(".\n")),
        lambda: (d.t("Sorry, the number I sent earlier, "), d.dk(g.card_decoy()), d.t(", was mistyped.\n")),
        lambda: (d.t("Tracking number "), d.d("long-digit-run", g.long_run()), d.t(", parcel ref "),
                 d.d("guid", g.guid()), d.t(".\n")),
        lambda: (d.t("The sandbox accepts the test card "), d.d("card-test-number", g.pick(CARD_TEST_NUMBERS)),
                 d.t(" only.\n")),
        lambda: (d.t("My previous IBAN "), d.dk(g.iban_decoy()), d.t(" was closed.\n")),
    ]
    for i in g.r.sample(range(len(paragraphs)), g.r.randint(4, 7)):
        paragraphs[i]()
        d.t("\n")
    d.t("Regards,\n%s\n" % first)
    if g.chance(0.5):
        d.v("phone-e164", g.phone_e164())
        d.t("\n")


def doc_json(g, d):
    d.t('{"request_id": "')
    d.d("guid", g.guid())
    d.t('", "sent_at": "')
    d.d("iso-datetime", g.iso_datetime())
    d.t('", "ts": ')
    d.d("unix-ts-13", g.ts13())
    d.t(', "records": [')
    for i in range(g.r.randint(2, 4)):
        first, last, email = g.person()
        d.t('%s\n  {"id": %d, "name": "%s %s", "email": "' % ("," if i else "", g.r.randint(1, 9999), first, last))
        d.v("email", email)
        d.t('"')
        if g.chance(0.6):
            d.t(', "phone": "')
            d.v("phone-e164", g.phone_e164())
            d.t('"')
        if g.chance(0.5):
            d.t(', "ssn": "')
            d.v("us-ssn", g.ssn())
            d.t('"')
        if g.chance(0.7):
            d.t(', "card": {"number": "')
            d.v("payment-card", g.card())
            d.t('", "exp": "%02d/%02d", "cvv_present": true}' % (g.r.randint(1, 12), g.r.randint(25, 31)))
        if g.chance(0.6):
            d.t(', "bank": {"iban": "')
            d.v("iban", g.iban())
            d.t('", "bic": "%s"}' % g.alnum(8, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
        if g.chance(0.6):
            d.t(', "payout": {"routing_number": "')
            d.v("us-routing", g.aba())
            d.t('", "type": "checking"}')
        if g.chance(0.5):
            d.t(', "nhs_number": "')
            d.v("uk-nhs", g.nhs())
            d.t('"')
        if g.chance(0.5):
            d.t(', "aadhaar": "')
            d.v("aadhaar", g.aadhaar())
            d.t('"')
        d.t(', "order": "')
        d.d("order-number", g.order_number())
        d.t('", "total": ')
        d.d("price", "%d.%02d" % (g.r.randint(1, 9999), g.r.randint(0, 99)))
        d.t(', "created": ')
        d.d("unix-ts-10", g.ts10())
        d.t("}")
    d.t('\n], "meta": {"checksum": "')
    d.d("hex-hash", g.hex_hash())
    d.t('"}}\n')


def doc_log(g, d):
    def line(*items):
        d.t(g.iso_datetime() + " ")
        for it in items:
            if isinstance(it, str):
                d.t(it)
            elif len(it) == 2 and it[0] in CLASSES:
                d.v(*it)
            else:
                d.d(*it)
        d.t("\n")

    kinds = [
        lambda: line("INFO  api req=", ("guid", g.guid()), " user=", ("email", g.person()[2]), " status=200 dur_ms=%d" %
                     g.r.randint(1, 900)),
        lambda: line("DEBUG auth Authorization: Bearer ", ("jwt", g.jwt())),
        lambda: line("WARN  payments charge declined card=", ("payment-card", g.card()), " amount=",
                     ("price", g.price()), " code=05"),
        lambda: line("INFO  payments charge ok card=", ("payment-card", g.card()),
                     " auth=%s" % g.alnum(6, "0123456789ABCDEF")),
        lambda: line("INFO  storage put sha256=", ("hex-hash", g.alnum(64, "0123456789abcdef")), " size=%d mtime=" %
                     g.r.randint(1, 99999), ("unix-ts-10", g.ts10())),
        lambda: line("ERROR records patient lookup failed nhs=", ("uk-nhs", g.nhs()), " ward=%s" % g.pick("ABC")),
        lambda: line("INFO  payouts ach transfer routing=", ("us-routing", g.aba()), " acct=****%s" % g.digits(4)),
        lambda: line("INFO  kyc verified aadhaar=", ("aadhaar", g.aadhaar()), " channel=app"),
        lambda: line("WARN  config loaded token=", ("api-token", g.api_token())),
        lambda: line("INFO  sms sent to=", ("phone-e164", g.phone_e164()), " template=otp"),
        lambda: line("INFO  s3 client key_id=", ("aws-access-key", g.aws_key_id()), " region=eu-west-1"),
        lambda: line("INFO  batch job=", ("long-digit-run", g.long_run()), " rows=%d" % g.r.randint(1, 5000)),
        lambda: line("INFO  metrics ts_ms=", ("unix-ts-13", g.ts13()), " cpu=0.%02d" % g.r.randint(0, 99)),
        lambda: line("ERROR sepa transfer rejected iban=", g.iban_decoy(), " reason=checksum"),
        lambda: line("INFO  sepa transfer queued iban=", ("iban", g.iban())),
        lambda: line("INFO  tax form w9 ssn=", ("us-ssn", g.ssn())),
        lambda: line("WARN  tax form rejected ssn=", g.ssn_decoy()),
        lambda: line("WARN  kyc rejected aadhaar=", g.aadhaar_decoy(), " reason=checksum"),
        lambda: line("WARN  records nhs number invalid nhs=", g.nhs_decoy()),
        lambda: line("WARN  payouts routing number invalid routing=", g.aba_decoy()),
        lambda: line("INFO  orders created order=", ("order-number", g.order_number()), " total=",
                     ("price", g.price())),
        lambda: line("INFO  export done id=", ("guid", g.guid()), " on=", ("iso-date", g.iso_date())),
    ]
    for _ in range(g.r.randint(14, 24)):
        g.pick(kinds)()


def doc_form_patients(g, d):
    d.t("PATIENT TRANSFER LIST\nTrust: %s Hospital\nDate: " % g.pick(["Riverside", "St Example", "Northgate"]))
    d.d("iso-date", g.iso_date())
    d.t("\n\n")
    for _ in range(g.r.randint(4, 8)):
        first, last, email = g.person()
        d.t("Name: %s %s\n" % (first, last))
        if g.chance(0.75):
            d.t(g.pick(["NHS No: ", "NHS number: ", "NHS: ", "Patient NHS no "]))
            d.v("uk-nhs", g.nhs())
            d.t("\n")
        elif g.chance(0.5):
            d.v("uk-nhs", g.nhs())
            d.t(" (NHS number)\n")
        else:
            d.t("NHS No (as written, invalid): ")
            d.dk(g.nhs_decoy())
            d.t("\n")
        d.t("DOB: ")
        d.d("iso-date", g.iso_date())
        d.t("\nGP phone: ")
        d.d("phone-national", g.phone_national())
        d.t("\nContact: ")
        d.v("email", email)
        d.t("\n\n")


def doc_form_deposit(g, d):
    d.t("ACH DIRECT DEPOSIT ENROLMENT\nEmployer: Example Corp\nBatch: ")
    d.d("order-number", g.order_number())
    d.t("\n\n")
    for _ in range(g.r.randint(4, 8)):
        first, last, email = g.person()
        d.t("Employee: %s %s\nSSN: " % (first, last))
        if g.chance(0.8):
            d.v("us-ssn", g.ssn())
        else:
            d.dk(g.ssn_decoy())
        d.t("\n")
        if g.chance(0.75):
            d.t(g.pick(["Bank routing number: ", "Routing number (ABA): ", "RTN: ", "ABA routing: "]))
            d.v("us-routing", g.aba())
            d.t("\n")
        elif g.chance(0.5):
            d.t("Bank: First Example Bank, ")
            d.v("us-routing", g.aba())
            d.t(" (routing)\n")
        else:
            d.t("Routing number (rejected): ")
            d.dk(g.aba_decoy())
            d.t("\n")
        d.t("Account type: checking\nAmount: ")
        d.d("price", g.price())
        d.t("\nEmail: ")
        d.v("email", email)
        d.t("\n\n")


def doc_form_kyc(g, d):
    d.t("KYC VERIFICATION SHEET\nBranch: %s\nDate: " % g.pick(["Mumbai Central", "Pune", "Bengaluru East"]))
    d.d("iso-date", g.iso_date())
    d.t("\n\n")
    for _ in range(g.r.randint(4, 8)):
        first, last, email = g.person()
        d.t("Name: %s %s\n" % (first, last))
        if g.chance(0.75):
            d.t(g.pick(["Aadhaar No: ", "Aadhaar number: ", "UID no. ", "Aadhar: ", "UIDAI no. "]))
            d.v("aadhaar", g.aadhaar())
            d.t("\n")
        elif g.chance(0.5):
            d.v("aadhaar", g.aadhaar())
            d.t(" (Aadhaar)\n")
        else:
            d.t("Aadhaar No (as written, invalid): ")
            d.dk(g.aadhaar_decoy())
            d.t("\n")
        d.t("PAN: %s%s%s\nMobile: " % (g.alnum(5, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"), g.digits(4), g.pick("ABCDEFGHJK")))
        d.v("phone-e164", "+919" + g.digits(9))
        d.t("\nEmail: ")
        d.v("email", email)
        d.t("\n\n")


def doc_form_wire(g, d):
    d.t("INTERNATIONAL TRANSFER INSTRUCTIONS\nValue date: ")
    d.d("iso-date", g.iso_date())
    d.t("\n\n")
    for _ in range(g.r.randint(3, 7)):
        first, last, _ = g.person()
        d.t("Beneficiary: %s %s\nIBAN: " % (first, last))
        if g.chance(0.8):
            d.v("iban", g.iban())
        else:
            d.dk(g.iban_decoy())
        d.t("\nBIC: %s\nAmount: " % g.alnum(8, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
        d.d("price", g.price())
        d.t("\nReference: ")
        d.d("order-number", g.order_number())
        d.t("\n\n")
    if g.chance(0.5):
        d.t("Card on file for fees: ")
        d.v("payment-card", g.card())
        d.t("\n")


def doc_credentials(g, d):
    d.t("# deploy credentials for %s (rotate quarterly)\n[default]\naws_access_key_id = " %
        g.pick(["billing", "etl", "web"]))
    d.v("aws-access-key", g.aws_key_id())
    d.t("\naws_secret_access_key = ")
    d.v("api-token", g.aws_secret())
    d.t("\nregion = eu-west-1\n\n[ci]\n")
    for name in g.r.sample(["GITHUB_TOKEN", "STRIPE_SECRET_KEY", "SESSION_SECRET", "API_TOKEN"], 2):
        d.t(name + "=")
        d.v("api-token", g.api_token())
        d.t("\n")
    d.t("# the example key from the documentation: ")
    d.d("aws-example-key", "AKIAIOSFODNN7EXAMPLE")
    d.t("\n# cache key ")
    d.d("hex-hash", g.hex_hash())
    d.t(" build ")
    d.d("guid", g.guid())
    d.t("\n")
    if g.chance(0.85):
        kind = g.pick(["RSA ", "EC ", "DSA ", "", "OPENSSH ", "ENCRYPTED "])
        d.v("private-key-pem", "-----BEGIN %sPRIVATE KEY-----" % kind)
        d.t("\n")
        d.d("pem-body", g.pem_body(g.r.randint(3, 8)))
        d.t("\n-----END %sPRIVATE KEY-----\n" % kind)
    if g.chance(0.5):
        kind = g.pick(["PUBLIC KEY", "CERTIFICATE", "RSA PUBLIC KEY"])
        d.d("pem-public", "-----BEGIN %s-----" % kind)
        d.t("\n")
        d.d("pem-body", g.pem_body(g.r.randint(2, 6)))
        d.t("\n-----END %s-----\n" % kind)
    d.t("\n# session issued to the deploy job\nbearer = ")
    d.v("jwt", g.jwt())
    d.t("\n")


def doc_filler(g, d):
    """Numbers that would be values with a keyword nearby, far from any (the classes need one)."""
    d.t("\n-- nightly job report (automated message, no action needed) --\n")
    for _ in range(g.r.randint(2, 4)):
        kind, make = g.pick([("aadhaar-no-context", g.aadhaar), ("nhs-no-context", g.nhs), ("aba-no-context", g.aba)])
        d.t("%s record %s: " % (g.pick(["sync", "import", "merge"]), g.pick(["ok", "done", "queued"])))
        d.d(kind, make())
        d.t(", %s\n" % g.pick(["no errors", "retried once", "took 12 ms"]))
        misc_line(g, d)


# Business documents: order, invoice, tracking and reference numbers of 9 to 22 digits, written after the
# word that names them, many of them valid card, NHS, Aadhaar, routing or SSN numbers by chance (the classes'
# negative keywords drop them), beside real values with and without their context; and columnar tables of
# plain numbers that no class takes.

BUSINESS_LABELS = ["Order #", "Order No. ", "Order number: ", "ORDER ", "Order ", "Invoice No. ", "Invoice #",
                   "INVOICE ", "Invoice number ", "INV ", "Inv. ", "Tracking: ", "Tracking number ", "TRACKING # ",
                   "Tracking no. ", "Ref ", "Ref: ", "REF ", "Ref. ", "Reference ", "Reference no. ",
                   "Your reference: ", "PO Number: ", "PO ", "PO# ", "Purchase order ", "SKU ", "SKU: "]
ITEMS = ["Cable, 2 m", "Desk lamp", "Toner cartridge", "Office chair", "USB hub", "Paper, A4 box", "Monitor arm",
         "Headset", "Notebook, ruled", "Stapler"]
CARRIERS = ["DHL", "UPS", "FedEx", "Royal Mail", "DPD", "USPS"]


def business_line(g, d, prefer=None, end="\n"):
    """A business number after its label, the way documents write it."""
    d.ld(g.pick(BUSINESS_LABELS), g.business_number(prefer), end)


def padded(d, write, width):
    """What write(d) writes, then spaces to `width` bytes (one at least)."""
    start = d.n
    write(d)
    d.t(" " * max(1, width - (d.n - start)))


def dated(g, d, heading):
    d.ld(heading + "Date: ", ("iso-date", g.iso_date()), "\n\n")


def amount_and_email(g, d, email, amount="Amount: ", contact="Email: "):
    d.ld(amount, ("price", g.price()))
    d.lv(contact, "email", email, "\n\n")


def doc_invoice(g, d):
    first, last, email = g.person()
    dated(g, d, "INVOICE\nExample Supplies Ltd, 1 Example Street\n")
    for _ in range(g.r.randint(2, 4)):
        business_line(g, d)
    d.lv("Bill to: %s %s <" % (first, last), "email", email, ">\n\n")
    d.t("SKU                   Description          Qty  Amount\n")
    for _ in range(g.r.randint(3, 6)):
        padded(d, lambda d: d.d("business-number", g.plain_number(g.r.randint(9, 16))), 22)
        d.ld("%-20s %-4d " % (g.pick(ITEMS), g.r.randint(1, 9)), ("price", g.price()))
    d.t("\nShipped with %s, " % g.pick(CARRIERS))
    for _ in range(g.r.randint(1, 2)):
        business_line(g, d)
    d.t("\nPayment received with thanks\n----------------------------\n")
    label, cls, make = g.pick([("Card: ", "payment-card", g.card), ("Charged to credit card ", "payment-card", g.card),
                               ("Payment method: ", "payment-card", g.card), ("Bank transfer to IBAN ", "iban", g.iban),
                               ("Remit to: ", "iban", g.iban)])
    d.lv(label, cls, make(), "\n\nPlease quote the invoice number with any question.\n")


def doc_order_table(g, d):
    d.ld("ORDERS SHIPPED ", ("iso-date", g.iso_date()))
    d.t("| Order #              | Invoice No.          | Tracking                 | Total        |\n"
        "|----------------------|----------------------|--------------------------|--------------|\n")
    for _ in range(g.r.randint(4, 9)):
        for width in (20, 20, 24):
            d.t("| ")
            padded(d, lambda d: d.d("business-number", g.plain_number(g.r.randint(9, min(width, 22)))), width + 1)
        d.ld("| ", ("price", g.price()), " |\n")
    d.t("\nOrder details\n")
    for label in g.r.sample(["Order #", "Order number", "Invoice No.", "Tracking", "Tracking no.", "Reference",
                             "Ref", "PO Number", "SKU"], g.r.randint(3, 5)):
        d.t("| %-16s | " % label)
        padded(d, lambda d: d.dk(g.business_number()), 25)
        d.t("|\n")
    d.t("\n")
    for _ in range(g.r.randint(2, 4)):
        n = g.r.randint(1, 3)
        for i in range(n):
            business_line(g, d, end=", " if i < n - 1 else "\n")
    d.t("\n\nCard payments received today\n| Customer           | Card                      | Amount       |\n")
    for _ in range(g.r.randint(2, 5)):
        first, last, _ = g.person()
        d.t("| %-18s | " % ("%s %s" % (first, last))[:18])
        padded(d, lambda d: d.v("payment-card", g.card()), 26)
        d.ld("| ", ("price", g.price()), " |\n")


def doc_clinic_billing(g, d):
    dated(g, d, "PATIENT BILLING STATEMENT\n%s Hospital NHS Foundation Trust\nStatement " %
          g.pick(["Riverside", "St Example", "Northgate"]))
    for _ in range(g.r.randint(3, 5)):
        first, last, email = g.person()
        d.lv("Patient: %s %s\n" % (first, last) + g.pick(["NHS No: ", "NHS number: ", "NHS: "]), "uk-nhs", g.nhs())
        for _ in range(g.r.randint(1, 3)):
            business_line(g, d, prefer="nhs")
        if g.chance(0.5):
            d.ld(g.pick(["Hospital no. ", "Hospital number: ", "MRN ", "MRN: "]),
                 ("hospital-number-nhs", g.nhs_number()))
        if g.chance(0.5):
            d.ld(g.pick(["Patient phone: ", "Tel: ", "Mobile: ", "Fax: "]),
                 ("phone-3-3-4-nhs", g.grouped(g.nhs_number(), [3, 3, 4], "-")))
        amount_and_email(g, d, email, "Amount due: ", "Contact: ")


def doc_kyc_invoice(g, d):
    dated(g, d, "CUSTOMER ONBOARDING AND BILLING\nBranch: %s\n" % g.pick(["Mumbai Central", "Pune", "Bengaluru East"]))
    for i in range(g.r.randint(3, 5)):
        first, last, email = g.person()
        d.t("Name: %s %s\n" % (first, last))
        number = g.aadhaar_format(g.aadhaar_card() if g.chance(0.4) else g.aadhaar_number())
        if i == 0 and g.chance(0.5):  # no card keyword before it: the Aadhaar keyword after it decides
            d.lv("", "aadhaar", number, " (Aadhaar)\n")
        else:
            d.lv(g.pick(["Aadhaar No: ", "Aadhaar number: ", "UID no. ", "Aadhar: "]), "aadhaar", number)
        for _ in range(g.r.randint(1, 3)):
            business_line(g, d, prefer=g.pick(["verhoeff", "aadhaar-luhn"]))
        d.lv(g.pick(["Card number: ", "Debit card: ", "Card: "]), "payment-card",
             g.card_format(g.aadhaar_card()) if g.chance(0.3) else g.card())
        d.lv("Email: ", "email", email, "\n\n")


def doc_remittance(g, d):
    dated(g, d, "VENDOR REMITTANCE ADVICE\nPayer: Example Corp\n")
    for _ in range(g.r.randint(3, 5)):
        first, last, email = g.person()
        d.t("Vendor: %s %s\n" % (first, last))
        d.lv(g.pick(["Taxpayer ID (SSN): ", "SSN: ", "Social security no. "]) if g.chance(0.7) else
             "Vendor tax number: ", "us-ssn", g.ssn())
        d.lv(g.pick(["Routing number: ", "ABA: ", "Bank routing no. "]), "us-routing", g.aba())
        d.ld(g.pick(["Account no. ", "Account number: ", "Acct "]),
             ("business-aba", g.aba()) if g.chance(0.5) else ("account-number", g.plain_number(g.r.randint(9, 12))))
        for _ in range(g.r.randint(1, 3)):
            business_line(g, d, prefer=g.pick(["aba", "ssn"]))
        if g.chance(0.5):
            d.ld(g.pick(["Check no. ", "Check number ", "Cheque no. "]), ("business-aba", g.aba()))
        amount_and_email(g, d, email)


# Nineteen, prime to the 3 of "every third document travels in a flow": every kind of document does.
TEMPLATES = [doc_csv, doc_email, doc_json, doc_log, doc_form_patients, doc_form_deposit, doc_form_kyc, doc_form_wire,
             doc_credentials, doc_log, doc_json, doc_csv, doc_credentials, doc_invoice, doc_order_table,
             doc_clinic_billing, doc_kyc_invoice, doc_remittance, doc_order_table]


def make_doc(g, n):
    d = Doc()
    TEMPLATES[n % len(TEMPLATES)](g, d)
    d.t("\n")
    for _ in range(g.r.randint(1, 3)):
        misc_line(g, d)
    if g.chance(0.6):
        doc_filler(g, d)
    return d


# ---------------------------------------------------------------------------------------------
# TCP flows.

CLIENT, SERVER = "10.0.0.1", "10.0.0.2"
CLIENT_MAC, SERVER_MAC = "02:00:00:00:00:01", "02:00:00:00:00:02"


def cut_stream(g, n, spans, keyword_spans):
    """Segment boundaries for a stream of n bytes: inside most values (so they straddle two
    segments, some of them three or more), inside some keywords, and otherwise every 40 to 400 bytes."""
    cuts = set()
    for s, e in spans:
        if e - s >= 2 and g.chance(0.8):
            for _ in range(1 if g.chance(0.8) else g.r.randint(2, 4)):
                cuts.add(g.r.randint(s + 1, e - 1))
    for s, e in keyword_spans:
        if e - s >= 2 and g.chance(0.3):
            cuts.add(g.r.randint(s + 1, e - 1))
    pos = 0
    while True:
        pos += g.r.randint(40, 400)
        if pos >= n:
            break
        cuts.add(pos)
    bounds = [0] + sorted(c for c in cuts if 0 < c < n) + [n]
    return [(a, b) for a, b in zip(bounds, bounds[1:]) if b > a]


def schedule(g, stream, segs, stats):
    """Transmissions (offset, bytes) for the segments: in order, then with exact and overlapping
    retransmissions, neighbours swapped and segments delivered late."""
    tx = [(a, stream[a:b]) for a, b in segs]
    k = len(segs)
    for _ in range(max(1, k // 8)):  # exact retransmission, right away or after a few later segments
        i = g.r.randrange(len(tx))
        tx.insert(min(len(tx), i + 1 + g.r.randint(0, 3)), tx[i])
        stats["retransmitted_exact"] += 1
    for _ in range(max(1, k // 8) if k > 1 else 0):  # overlapping retransmission: the end of one segment and
        j = g.r.randrange(k - 1)                       # the start of the next, re-packetised
        (a0, b0), (a1, b1) = segs[j], segs[j + 1]
        s, e = g.r.randint(a0, b0 - 1), g.r.randint(a1 + 1, b1)
        where = next(i for i, t in enumerate(tx) if t[0] == a0)
        tx.insert(min(len(tx), where + 1 + g.r.randint(0, 2)), (s, stream[s:e]))
        stats["retransmitted_overlapping"] += 1
    for _ in range(max(1, k // 8) if k > 1 else 0):  # neighbours swapped
        i = g.r.randrange(len(tx) - 1)
        tx[i], tx[i + 1] = tx[i + 1], tx[i]
        stats["reordered_swapped"] += 1
    for _ in range(max(1, k // 10) if k > 2 else 0):  # one segment delivered late
        i = g.r.randrange(len(tx) - 2)
        t = tx.pop(i)
        tx.insert(min(len(tx), i + g.r.randint(2, 5)), t)
        stats["reordered_late"] += 1
    return tx


def flow_packets(g, sport, orig, reply, orig_segs, reply_segs, stats):
    isn_c = g.pick([g.r.getrandbits(32), 0xFFFFFFFF - g.r.randint(0, 3000)])  # some wrap around 2^32
    isn_s = g.r.getrandbits(32)
    m = 0xFFFFFFFF

    def pkt(from_client, flags, seq, ack, payload=b""):
        if from_client:
            p = (Ether(src=CLIENT_MAC, dst=SERVER_MAC) / IP(src=CLIENT, dst=SERVER) /
                 TCP(sport=sport, dport=80, flags=flags, seq=seq & m, ack=ack & m, window=64240))
        else:
            p = (Ether(src=SERVER_MAC, dst=CLIENT_MAC) / IP(src=SERVER, dst=CLIENT) /
                 TCP(sport=80, dport=sport, flags=flags, seq=seq & m, ack=ack & m, window=65160))
        return p / Raw(load=payload) if payload else p

    out = [pkt(True, "S", isn_c, 0), pkt(False, "SA", isn_s, isn_c + 1), pkt(True, "A", isn_c + 1, isn_s + 1)]

    # Some data segments travel as IP fragments (a value may straddle two), now and then with the
    # later fragments out of order. Drawn from a generator of their own, so that the corpus is the
    # same with or without them.
    fr = random.Random(0xF4A6 ^ sport)
    ident = [sport * 64]

    def emit(p):
        ident[0] += 1
        p[IP].id = ident[0] & 0xFFFF
        data = bytes(p[TCP].payload)
        if len(data) < 64 or fr.random() >= 0.2:
            out.append(p)
            return
        frags = fragment(p[IP], fragsize=8 * fr.randint(3, max(3, (len(data) + 20) // 16)))
        if len(frags) > 2 and fr.random() < 0.3:
            frags[1], frags[2] = frags[2], frags[1]
        out.extend(Ether(src=p[Ether].src, dst=p[Ether].dst) / f for f in frags)
        stats["fragmented"] += 1

    def send(from_client, stream, segs, isn, peer_isn):
        got = bytearray(len(stream))
        for n, (off, data) in enumerate(schedule(g, stream, segs, stats)):
            emit(pkt(from_client, "PA", isn + 1 + off, peer_isn + 1, data))
            stats["packets_data"] += 1
            got[off:off + len(data)] = b"\1" * len(data)
            if n % 3 == 2:
                acked = got.find(0)
                out.append(pkt(not from_client, "A", peer_isn + 1, isn + 1 + (len(stream) if acked < 0 else acked)))
        out.append(pkt(not from_client, "A", peer_isn + 1, isn + 1 + len(stream)))

    send(True, orig, orig_segs, isn_c, isn_s)
    send(False, reply, reply_segs, isn_s, isn_c + len(orig))
    cfin, sfin = isn_c + 1 + len(orig), isn_s + 1 + len(reply)
    out += [pkt(True, "FA", cfin, sfin), pkt(False, "FA", sfin, cfin + 1), pkt(True, "A", cfin + 1, sfin + 1)]
    return out


REQUEST_PATHS = {"csv": "/v1/exports", "email": "/v1/mail/inbound", "json": "/v1/records", "log": "/v1/logs/bulk",
                 "form": "/v1/forms", "conf": "/v1/config/upload"}


def http_request(g, doc, kind, bearer):
    head = "POST %s HTTP/1.1\r\nHost: api.example.com\r\nUser-Agent: corpus-client/1.0\r\n" % REQUEST_PATHS[kind]
    head += "Content-Type: %s\r\n" % ("application/json" if kind == "json" else "text/plain")
    parts = [("t", head)]
    if bearer:
        parts += [("t", "Authorization: Bearer "), ("v", "jwt", g.jwt()), ("t", "\r\n")]
    parts += [("t", "Content-Length: %d\r\n\r\n" % len(doc.text()))]
    return parts


def http_response(g, doc):
    if doc is None:
        doc = Doc()
        doc.t('{"status":"accepted","id":"')
        doc.d("guid", g.guid())
        doc.t('"}\n')
        if g.chance(0.4):  # a last value that ends the stream: nothing follows it
            doc.t("verified: ")
            cls, value = g.pick([("payment-card", g.card), ("iban", g.iban), ("email", lambda: g.person()[2]),
                                 ("phone-e164", g.phone_e164)])
            doc.v(cls, value())
    return [("t", "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n" % len(doc.text()))], doc


def assemble(head_parts, body):
    """A direction's stream from header parts and a body document: (text, labels, decoys)."""
    d = Doc()
    for p in head_parts:
        if p[0] == "t":
            d.t(p[1])
        else:
            d.v(p[1], p[2])
    base = d.n
    labels = d.values + [dict(l, end_offset=l["end_offset"] + base) for l in body.values]
    decoys = d.decoys + [dict(x, start=x["start"] + base, end=x["end"] + base) for x in body.decoys]
    return d.text() + body.text(), labels, decoys


def doc_kind(n):
    return {doc_csv: "csv", doc_email: "email", doc_json: "json", doc_log: "log", doc_credentials: "conf"}.get(
        TEMPLATES[n % len(TEMPLATES)], "form")


def keyword_spans(text):
    lower, out = text.lower(), []
    for k in set(AADHAAR_KEYWORDS + NHS_KEYWORDS + ROUTING_KEYWORDS + sum((nc.negative for nc in NUMBER_CLASSES), [])):
        i = lower.find(k)
        while i >= 0:
            out.append((i, i + len(k)))
            i = lower.find(k, i + 1)
    return out


# ---------------------------------------------------------------------------------------------
# generate

def generate(outdir, seed, ndocs):
    rng = random.Random(seed)
    g = Gen(rng)
    os.makedirs(os.path.join(outdir, "text"), exist_ok=True)
    os.makedirs(os.path.join(outdir, "pcap"), exist_ok=True)
    os.makedirs(os.path.join(outdir, "streams"), exist_ok=True)
    labels, decoys, docs = {}, {}, []
    redrawn = 0
    for n in range(ndocs):
        for attempt in range(50):
            d = make_doc(g, n)
            text = d.text()
            errors, clashes = audit(text, d.values, d.decoys)
            if errors:
                raise GeneratorError("document %d: %s" % (n, "; ".join(errors)))
            if not clashes:
                break
            redrawn += 1
        else:
            raise GeneratorError("document %d: no draw without a clash in 50 (%s)" % (n, "; ".join(clashes)))
        name = "text/doc-%04d.txt" % n
        with open(os.path.join(outdir, name), "w") as f:
            f.write(text)
        labels[name] = d.values
        decoys[name] = d.decoys
        docs.append(d)

    # Flows: every third document as a request body; some responses carry another document.
    stats = collections.Counter()
    flows_per_pcap, flows = 6, []
    for k, n in enumerate(range(0, ndocs, 3)):
        reply_doc = docs[(n + 1) % ndocs] if k % 3 == 0 else None
        for _ in range(20):
            sport = 40000 + k
            req_head = http_request(g, docs[n], doc_kind(n), bearer=g.chance(0.3))
            resp_head, reply_body = http_response(g, reply_doc)
            o_text, o_labels, o_decoys = assemble(req_head, docs[n])
            r_text, r_labels, r_decoys = assemble(resp_head, reply_body)
            problems = []
            for text, ls, ds in ((o_text, o_labels, o_decoys), (r_text, r_labels, r_decoys)):
                errors, clashes = audit(text, ls, ds)
                problems += errors + clashes
            if not problems:
                break
        else:
            raise GeneratorError("flow %d: %s" % (k, "; ".join(problems)))
        flows.append((sport, o_text, o_labels, o_decoys, r_text, r_labels, r_decoys))

    pcap_labels, pcap_decoys = {}, {}
    for p in range(0, len(flows), flows_per_pcap):
        name = "pcap/flows-%02d.pcap" % (p // flows_per_pcap)
        per_flow = []
        for sport, o_text, o_labels, o_decoys, r_text, r_labels, r_decoys in flows[p:p + flows_per_pcap]:
            key = "%s:%d>%s:80" % (CLIENT, sport, SERVER)
            pcap_labels.setdefault(name, {})[key] = {"orig": o_labels, "reply": r_labels}
            pcap_decoys.setdefault(name, {})[key] = {"orig": o_decoys, "reply": r_decoys}
            segs = {}
            for dname, text, ls, ds in (("orig", o_text, o_labels, o_decoys), ("reply", r_text, r_labels, r_decoys)):
                spans = [(l["end_offset"] - len(l["value"]), l["end_offset"]) for l in ls]
                segs[dname] = cut_stream(g, len(text), spans + [(x["start"], x["end"]) for x in ds if g.chance(0.3)],
                                         keyword_spans(text))
                cuts = {a for a, _ in segs[dname]}
                stats["values"] += len(spans)
                stats["values_split"] += sum(1 for s, e in spans if any(s < c < e for c in cuts))
                stats["values_split_3"] += sum(1 for s, e in spans if sum(1 for c in cuts if s < c < e) >= 2)
                stats["segments"] += len(segs[dname])
                with open(os.path.join(outdir, "streams", "%s-%d-%s.txt" % (os.path.basename(name)[:-5], sport, dname)),
                          "w") as f:
                    f.write(text)
            per_flow.append(flow_packets(g, sport, o_text.encode(), r_text.encode(), segs["orig"], segs["reply"],
                                         stats))
            stats["flows"] += 1
            stats["flows_reply_values"] += 1 if r_labels else 0
        # Interleave the flows of a capture, a few packets of one, then of another.
        pkts, queues = [], [list(f) for f in per_flow]
        while any(queues):
            q = g.pick([q for q in queues if q])
            for _ in range(g.r.randint(1, 4)):
                if q:
                    pkts.append(q.pop(0))
        t = 1709280000.0 + p
        for x in pkts:
            t += 0.0005
            x.time = t
        stats["packets"] += len(pkts)
        wrpcap(os.path.join(outdir, name), pkts, linktype=1)
    labels.update(pcap_labels)
    decoys.update(pcap_decoys)

    counts = {"text": collections.Counter(), "pcap": collections.Counter()}
    for name, ls in labels.items():
        if name.startswith("text/"):
            counts["text"].update(l["class"] for l in ls)
        else:
            for dirs in ls.values():
                for dl in dirs.values():
                    counts["pcap"].update(l["class"] for l in dl)
    decoy_count = collections.Counter()
    for name, ds in decoys.items():
        if name.startswith("text/"):
            decoy_count.update(x["kind"] for x in ds)
    meta = {
        "seed": seed, "documents": ndocs, "text_bytes": sum(len(d.text()) for d in docs), "redrawn": redrawn,
        "values": {c: {"text": counts["text"][c], "pcap": counts["pcap"][c]} for c in CLASSES},
        "decoys": dict(sorted(decoy_count.items())), "pcaps": len(pcap_labels), "flows": stats["flows"],
        "flows_with_reply_values": stats["flows_reply_values"], "packets": stats["packets"],
        "data_segments": stats["segments"], "data_packets": stats["packets_data"],
        "pcap_values_split": stats["values_split"], "pcap_values_split_3": stats["values_split_3"],
        "pcap_values": stats["values"],
        "retransmitted_exact": stats["retransmitted_exact"],
        "retransmitted_overlapping": stats["retransmitted_overlapping"],
        "reordered_swapped": stats["reordered_swapped"], "reordered_late": stats["reordered_late"],
        "fragmented": stats["fragmented"],
    }
    with open(os.path.join(outdir, "labels.json"), "w") as f:
        json.dump(labels, f, indent=1, sort_keys=True)
    with open(os.path.join(outdir, "decoys.json"), "w") as f:
        json.dump(decoys, f, indent=1, sort_keys=True)
    with open(os.path.join(outdir, "corpus.json"), "w") as f:
        json.dump(meta, f, indent=1, sort_keys=True)
    return meta


def describe(meta):
    v = meta["values"]
    return ("seed %d: %d documents (%d bytes) with %d values; %d flows in %d pcaps (%d packets) carrying %d values, "
            "%d of them split across segments (%d across three or more); %d data segments, %d retransmitted exactly "
            "and %d overlapping, %d swapped with a neighbour and %d delivered late, %d sent as IP fragments; %d "
            "documents drawn again after a clash" % (meta["seed"], meta["documents"], meta["text_bytes"], sum(x["text"] for x in v.values()),
                         meta["flows"], meta["pcaps"], meta["packets"], meta["pcap_values"], meta["pcap_values_split"],
                         meta["pcap_values_split_3"], meta["data_segments"], meta["retransmitted_exact"],
                         meta["retransmitted_overlapping"], meta["reordered_swapped"], meta["reordered_late"],
                         meta["fragmented"], meta["redrawn"]))


# ---------------------------------------------------------------------------------------------
# score

def mask(value):
    """All letters and digits but the last four masked."""
    keep = sum(1 for c in value if c in ALNUM) - 4
    out = []
    for c in value:
        if c in ALNUM:
            out.append("*" if keep > 0 else c)
            keep -= 1
        else:
            out.append(c)
    return "".join(out)


def rules_drift(classes_dir):
    """Where the context of the reference rules here differs from the class files in `classes_dir`."""
    import yaml
    out = []
    for nc in NUMBER_CLASSES:
        path = os.path.join(classes_dir, nc.name + ".yaml")
        if not os.path.exists(path):
            out.append("%s: no class file" % path)
            continue
        with open(path) as f:
            cx = ((yaml.safe_load(f) or {}).get("detectors") or {}).get("context") or {}
        lower = lambda key: sorted(str(k).lower() for k in cx.get(key, []))
        file_rules = {"keywords": lower("keywords"), "window": cx.get("window", 64),
                      "required": cx.get("required", False), "negative_keywords": lower("negative_keywords"),
                      "negative_window": cx.get("negative_window", 32), "explained_by": sorted(cx.get("explained_by", []))}
        here = {"keywords": sorted(nc.keywords), "window": nc.window, "required": nc.required,
                "negative_keywords": sorted(nc.negative), "negative_window": NEGATIVE_WINDOW,
                "explained_by": sorted(nc.explained_by)}
        out += ["%s: context.%s is %r there, %r in corpus.py" % (path, k, file_rules[k], here[k])
                for k in here if here[k] != file_rules[k]]
    return out


def run_classify(binary, classes, args, files):
    if not files:
        return []
    cmd = [binary, "classify", "--classes", classes] + args + files
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if proc.returncode not in (0, 1):
        raise RuntimeError("%s exited %d: %s" % (" ".join(cmd[:5]), proc.returncode, proc.stderr.strip()))
    for line in proc.stderr.splitlines():
        print("classify: " + line)
    return [json.loads(l) for l in proc.stdout.splitlines() if l.strip()]


def where_is(offset, labels, decoys):
    """What a false finding at `offset` falls on: a planted value, a decoy, or nothing known."""
    for l in labels:
        if l["end_offset"] - len(l["value"]) < offset <= l["end_offset"]:
            return "inside %s %s" % (l["class"], mask(l["value"]))
    for x in decoys:
        if x["start"] < offset <= x["end"]:
            return "on decoy %s" % x["kind"]
    return "elsewhere"


def ratio(num, den):
    return num / den if den else None


def fmt(x):
    return "n/a" if x is None else "%.4f" % x


def score(outdir, binary, classes, report=None, minimum=0.99):
    t0 = time.time()
    with open(os.path.join(outdir, "labels.json")) as f:
        labels = json.load(f)
    with open(os.path.join(outdir, "decoys.json")) as f:
        decoys = json.load(f)
    meta = {}
    if os.path.exists(os.path.join(outdir, "corpus.json")):
        with open(os.path.join(outdir, "corpus.json")) as f:
            meta = json.load(f)

    units = {}  # (scope, unit name) -> (labels, decoys)
    sources = {}  # (scope, unit name) -> the file holding its bytes
    for name, ls in labels.items():
        if name.startswith("text/"):
            units[("text", name)] = (ls, decoys.get(name, []))
            sources[("text", name)] = os.path.join(outdir, name)
        else:
            for key, dirs in ls.items():
                for dname, dl in dirs.items():
                    units[("pcap", "%s %s %s" % (name, key, dname))] = (dl, decoys[name][key][dname])
                    sport = key.split(">")[0].split(":")[1]
                    sources[("pcap", "%s %s %s" % (name, key, dname))] = os.path.join(
                        outdir, "streams", "%s-%s-%s.txt" % (os.path.basename(name)[:-5], sport, dname))

    found = collections.defaultdict(list)
    text_files = sorted(n for n in labels if n.startswith("text/"))
    for x in run_classify(binary, classes, ["--text"], [os.path.join(outdir, n) for n in text_files]):
        found[("text", os.path.relpath(x["file"], outdir))].append(x)
    pcaps = sorted(n for n in labels if n.startswith("pcap/"))
    flow_home = {}
    for name in pcaps:
        for key in labels[name]:
            if key in flow_home:
                raise RuntimeError("flow %s is in two captures" % key)
            flow_home[key] = name
    for x in run_classify(binary, classes, ["--pcap"], [os.path.join(outdir, n) for n in pcaps]):
        fl = x["flow"]
        if x["direction"] == "orig":
            key = "%s:%d>%s:%d" % (fl["src"], fl["sport"], fl["dst"], fl["dport"])
        else:
            key = "%s:%d>%s:%d" % (fl["dst"], fl["dport"], fl["src"], fl["sport"])
        found[("pcap", "%s %s %s" % (flow_home.get(key, "?"), key, x["direction"]))].append(x)
    for unit in found:
        if unit not in units:
            units[unit] = ([], [])
    elapsed_classify = time.time() - t0

    stats = {s: collections.defaultdict(lambda: [0, 0, 0]) for s in ("text", "pcap", "all")}
    misses = collections.defaultdict(list)  # class -> [(scope, unit, offset, masked value)]
    false = collections.defaultdict(list)   # class -> [(scope, unit, offset, masked by the engine, where)]
    for (scope, unit), (ls, ds) in sorted(units.items()):
        want = collections.Counter((l["class"], l["end_offset"]) for l in ls)
        got = collections.Counter((x["class"], x["offset"]) for x in found.get((scope, unit), []))
        for (cls, off), n in (want | got).items():
            tp = min(want[(cls, off)], got[(cls, off)])
            fp, fn = got[(cls, off)] - tp, want[(cls, off)] - tp
            for s in (scope, "all"):
                st = stats[s][cls]
                st[0] += tp
                st[1] += fp
                st[2] += fn
            if fn:
                v = next(l["value"] for l in ls if l["class"] == cls and l["end_offset"] == off)
                misses[cls].append((scope, unit, off, mask(v)))
            if fp:
                # The engine's mask keeps the value's length: the runner masks the same bytes its own way.
                x = next(x for x in found[(scope, unit)] if x["class"] == cls and x["offset"] == off)
                v = x["masked"]
                if os.path.exists(sources.get((scope, unit), "")):
                    with open(sources[(scope, unit)], "rb") as f:
                        v = mask(f.read()[max(0, off - len(x["masked"])):off].decode("ascii", "replace"))
                false[cls].append((scope, unit, off, v, where_is(off, ls, ds)))

    rows, failed = [], []
    for cls in CLASSES:
        row = {"class": cls, "held": cls in HELD}
        for s in ("text", "pcap", "all"):
            tp, fp, fn = stats[s][cls]
            row[s] = (tp, fp, fn, ratio(tp, tp + fp), ratio(tp, tp + fn))
        p, r = row["all"][3], row["all"][4]
        if cls in HELD and (p is None or r is None or p < minimum or r < minimum):
            failed.append(cls)
        rows.append(row)

    print("Corpus: " + (describe(meta) if meta else outdir))
    for line in rules_drift(classes):
        print("note: the corpus was labelled by other rules than these class files: " + line)
    print("Held to precision and recall >= %.4f (validated by checksum or structure): %s. The other classes are "
          "reported, not held to the target." % (minimum, ", ".join(HELD)))
    head = "%-16s %-4s | %-27s | %-27s | %-27s" % ("class", "held", "text TP/FP/FN   prec    rec",
                                                   "pcap TP/FP/FN   prec    rec", "all TP/FP/FN    prec    rec")
    print(head)
    print("-" * len(head))
    for row in rows:
        cells = []
        for s in ("text", "pcap", "all"):
            tp, fp, fn, p, r = row[s]
            cells.append("%-13s %6s %6s" % ("%d/%d/%d" % (tp, fp, fn), fmt(p), fmt(r)))
        print("%-16s %-4s | %s | %s | %s" % (row["class"], "yes" if row["held"] else "no", *cells))

    print("\nFalse findings by where they fall:")
    for cls in CLASSES:
        if false[cls]:
            causes = collections.Counter(re.sub(r"^inside (\S+) .*", r"inside a planted \1", w) for *_, w in false[cls])
            print("  %-16s %s" % (cls, ", ".join("%s: %d" % kv for kv in causes.most_common())))
    for cls in failed:
        print("\n%s is below the target:" % cls)
        for scope, unit, off, v in misses[cls][:8]:
            print("  missed  %s @%d: %s" % (unit, off, v))
        for scope, unit, off, v, w in false[cls][:8]:
            print("  false   %s @%d: %s (%s)" % (unit, off, v, w))
        if len(misses[cls]) > 8 or len(false[cls]) > 8:
            print("  (%d missed, %d false in all)" % (len(misses[cls]), len(false[cls])))
    elapsed = time.time() - t0
    print("\nclassify ran in %.1f s; scoring took %.1f s" % (elapsed_classify, elapsed))

    if report:
        with open(report, "w") as f:
            f.write(markdown(rows, meta, minimum))
    if failed:
        print("FAIL: below %.4f: %s" % (minimum, ", ".join(failed)))
        return 1
    print("PASS: every validated class at or above %.4f" % minimum)
    return 0


def markdown(rows, meta, minimum):
    out = []
    if meta:
        out.append("Corpus: " + describe(meta) + ".\n\n")
        out.append("| class | values (text + pcap) |\n|---|---|\n")
        for c in CLASSES:
            v = meta["values"][c]
            out.append("| %s | %d + %d |\n" % (c, v["text"], v["pcap"]))
        out.append("\n")
    out.append("| class | held to %.2f | text TP/FP/FN | text precision | text recall | pcap TP/FP/FN | "
               "pcap precision | pcap recall | all TP/FP/FN | precision | recall |\n" % minimum)
    out.append("|---|---|---|---|---|---|---|---|---|---|---|\n")
    for row in rows:
        cells = []
        for s in ("text", "pcap", "all"):
            tp, fp, fn, p, r = row[s]
            cells += ["%d/%d/%d" % (tp, fp, fn), fmt(p), fmt(r)]
        out.append("| %s | %s | %s |\n" % (row["class"], "yes" if row["held"] else "no", " | ".join(cells)))
    return "".join(out)


# ---------------------------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("generate", help="write a labelled corpus")
    a.add_argument("outdir")
    a.add_argument("--seed", type=int, default=CHECK_SEED)
    a.add_argument("--docs", type=int, default=DEFAULT_DOCS)
    a = sub.add_parser("score", help="run goldgatectl classify over a corpus and score it")
    a.add_argument("outdir")
    a.add_argument("--goldgatectl", required=True)
    a.add_argument("--classes", required=True)
    a.add_argument("--report")
    a.add_argument("--min", type=float, default=0.99)
    a = sub.add_parser("check", help="generate with the fixed seed into a temporary folder and score")
    a.add_argument("goldgatectl")
    a.add_argument("classes")
    args = ap.parse_args()
    try:
        if args.cmd == "generate":
            t0 = time.time()
            meta = generate(args.outdir, args.seed, args.docs)
            print(describe(meta) + " (%.1f s)" % (time.time() - t0))
            sys.exit(0)
        if args.cmd == "score":
            sys.exit(score(args.outdir, args.goldgatectl, args.classes, args.report, args.min))
        drift = rules_drift(args.classes)
        if drift:  # the corpus would be labelled by other rules than the engine runs
            print("FAIL: the reference rules in corpus.py differ from the class files:\n  " + "\n  ".join(drift))
            sys.exit(1)
        t0 = time.time()
        with tempfile.TemporaryDirectory(prefix="gg-corpus-") as tmp:
            generate(tmp, CHECK_SEED, DEFAULT_DOCS)
            print("generated in %.1f s" % (time.time() - t0))
            rc = score(tmp, args.goldgatectl, args.classes)
        print("check took %.1f s" % (time.time() - t0))
        sys.exit(rc)
    except (GeneratorError, RuntimeError, OSError) as e:
        print("error: %s" % e, file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
