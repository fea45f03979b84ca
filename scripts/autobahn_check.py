#!/usr/bin/env python3
"""Checks an Autobahn fuzzingclient report.

Usage: autobahn_check.py INDEX_JSON EXPECTED_JSON [--strict]

INDEX_JSON is wstest's reports/index.json; EXPECTED_JSON a JSON list of the case ids the run
selected. Prints the count per behavior and exits 1 when a case FAILED (its behavior or its
close behavior), when a selected case has no result (wstest exits 0 even when the server
crashed), or, with --strict, when a case is NON-STRICT.
"""
import collections
import json
import sys

BEHAVIORS = ("OK", "NON-STRICT", "INFORMATIONAL", "UNIMPLEMENTED", "FAILED")


def case_key(case_id):
    return tuple(int(part) for part in case_id.split("."))


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    strict = "--strict" in sys.argv
    if len(args) != 2:
        sys.exit(__doc__)
    with open(args[0]) as f:
        index = json.load(f)
    with open(args[1]) as f:
        expected = json.load(f)
    results = {}
    for agent_results in index.values():  # one agent per run
        results.update(agent_results)

    counts = collections.Counter()
    failed, non_strict = [], []
    for case in sorted(results, key=case_key):
        result = results[case]
        behavior, close = result["behavior"], result["behaviorClose"]
        counts[behavior] += 1
        if "FAILED" in (behavior, close):
            failed.append(f"{case}: behavior {behavior}, close {close}, remote close code {result.get('remoteCloseCode')}")
        elif "NON-STRICT" in (behavior, close):
            non_strict.append(f"{case}: behavior {behavior}, close {close}")
    missing = sorted(set(expected) - set(results), key=case_key)

    print(f"autobahn: {len(results)} of {len(expected)} cases have results")
    for behavior in BEHAVIORS:
        print(f"  {behavior:<14} {counts[behavior]}")
    for other in sorted(set(counts) - set(BEHAVIORS)):
        print(f"  {other:<14} {counts[other]}")
    for title, cases in (("FAILED", failed), ("NON-STRICT", non_strict)):
        if cases:
            print(f"{title} cases:")
            print("\n".join(f"  {c}" for c in cases))
    if missing:
        print(f"missing {len(missing)} cases (did the server crash?): {', '.join(missing[:20])}"
              + (" ..." if len(missing) > 20 else ""))
    bad = failed or missing or (strict and non_strict)
    print("autobahn: FAIL" if bad else "autobahn: PASS")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
