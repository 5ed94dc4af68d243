#!/usr/bin/python3
"""Reads calendar files the web app made with a real RFC 5545 parser (the `icalendar` package,
Debian's python3-icalendar; run it with /usr/bin/python3) and prints what a calendar would take
from each, one JSON line per file in order: {method, uid, sequence, summary, status, dtstart, dtend (ISO 8601, UTC),
location, text}. Exits non-zero, saying which file and why, when a file is not one valid event: a parse error,
a missing required property, a line longer than 75 octets or not ended by CRLF, or a time that
is not UTC."""

import json
import sys
from datetime import timezone

import icalendar


PATH = ""


def fail(why):
    print(f"check_ics: {PATH}: {why}", file=sys.stderr)
    sys.exit(1)


def check(path):
    raw = open(path, "rb").read()
    if not raw.endswith(b"\r\n"):
        fail("the file does not end with CRLF")
    for n, line in enumerate(raw.split(b"\r\n")[:-1], 1):
        if b"\n" in line or b"\r" in line:
            fail(f"line {n} has a bare line break")
        if len(line) > 75:
            fail(f"line {n} is {len(line)} octets (at most 75)")
    cal = icalendar.Calendar.from_ical(raw)
    if cal.name != "VCALENDAR":
        fail("not a VCALENDAR")
    for prop in ("VERSION", "PRODID"):
        if prop not in cal:
            fail(f"the calendar has no {prop}")
    events = [c for c in cal.walk() if c.name == "VEVENT"]
    if len(events) != 1:
        fail(f"{len(events)} events (expected one)")
    ev = events[0]
    for prop in ("UID", "DTSTAMP", "DTSTART", "DTEND", "SUMMARY"):
        if prop not in ev:
            fail(f"the event has no {prop}")
    times = {}
    for prop in ("DTSTAMP", "DTSTART", "DTEND"):
        value = ev.decoded(prop)
        if getattr(value, "tzinfo", None) is None or value.utcoffset().total_seconds() != 0:
            fail(f"{prop} is not a UTC date-time")
        times[prop] = value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    if times["DTEND"] <= times["DTSTART"]:
        fail("DTEND is not after DTSTART")
    out = {
        "method": str(cal.get("METHOD", "")),
        "uid": str(ev["UID"]),
        "sequence": int(ev.get("SEQUENCE", 0)),
        "summary": str(ev["SUMMARY"]),
        "status": str(ev.get("STATUS", "")),
        "dtstamp": times["DTSTAMP"],
        "dtstart": times["DTSTART"],
        "dtend": times["DTEND"],
        "location": str(ev["LOCATION"]) if "LOCATION" in ev else None,
        "text": raw.decode("utf-8"),
    }
    print(json.dumps(out))


if __name__ == "__main__":
    if len(sys.argv) < 2:
        fail("usage: check_ics.py FILE...")
    for PATH in sys.argv[1:]:
        check(PATH)
