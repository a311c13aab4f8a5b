"""`make chaos`: start the stack, run the load, the partners and the fault schedule, let the
pipeline drain, check, print the figures. Exits 1 on any loss, duplicate or order
violation, 2 on a harness failure, 3 when the time limit ran out.

    python -m bench.chaos [--cases 600] [--rate 20] [--broker tansu|kafka] [--schedule quick|full|none|f1,f2]
"""

import argparse
import asyncio
import json
import logging
import secrets
import signal
import sys
import tempfile
import time
from pathlib import Path

from bench.chaos import checker, faults, plan
from bench.chaos.load import IN_FLIGHT, Load
from bench.chaos.monitor import STAGES as MONITORED, Monitor
from bench.chaos.partners import HttpPartner, KafkaPartner
from samenwijk_dev import demo
from samenwijk_dev.stack import Stack


def needed(load: Load, units: list[plan.Unit], t: float) -> dict[str, int]:
    """What every monitored stage must count once the submissions acked by t went through."""
    acked = load.acked(before=t)
    refs = sum(len(units[s.unit].partners) for s in acked if s.position == 0)
    return {"case": len(acked), **{k: refs for k in MONITORED if k != "case"}}


async def drive(stack: Stack, args: argparse.Namespace, out: dict) -> checker.Report:
    run_tag = secrets.token_hex(3)
    units = plan.build(args.cases, args.rate, run_tag, args.seed)
    out["units"] = units
    tokens = demo.dev_tokens(stack.jwt_signing_key)
    urls = {n: stack.url(n) for n in stack.services}
    bootstrap = stack.broker.bootstrap
    print("warm-up: the demo's two cases through all four services …", flush=True)
    journeys = await asyncio.to_thread(demo.run, urls, bootstrap, tokens, lambda _: None)
    warm_up = {str(p["referral_id"]) for j in journeys for p in j["case"]["parts"]}

    load = Load(lambda: stack.url("intake"), tokens[plan.CORPORATION], units, run_tag)
    out["load"] = load
    http_partners = [HttpPartner(p, lambda: stack.url("partners"), tokens[p]) for p in plan.HTTP_PARTNERS]
    kafka_partners = [KafkaPartner(p, lambda: stack.broker.bootstrap, args.broker == "kafka", warm_up)
                      for p in plan.KAFKA_PARTNERS]
    out["partners"] = (http_partners, kafka_partners)
    monitor = Monitor(stack.postgres.dsn, [str(j["case"]["case_id"]) for j in journeys])
    out["monitor"] = monitor
    background = [asyncio.create_task(p.run()) for p in [*http_partners, *kafka_partners]]
    background.append(asyncio.create_task(monitor.run()))
    injector = faults.Injector(stack, args.restart_after)
    schedule = faults.schedule(args.schedule, args.broker)
    duration = args.cases / args.rate
    print(f"load: {args.cases} submissions at {args.rate:g}/s ({duration:.0f} s); "
          f"{len(schedule)} faults: {', '.join(schedule) or 'none'}", flush=True)
    try:
        load_task = asyncio.create_task(load.run())
        t0 = time.monotonic()
        warm = min(20.0, 0.1 * duration)
        spacing = (0.75 * duration - warm) / max(1, len(schedule))
        if schedule and spacing < 10:
            print(f"  note: {spacing:.1f} s between faults is short; recoveries will overlap "
                  "(more cases or a lower rate spread them)", flush=True)
        baseline_at = t0 + warm / 2
        done: list[faults.Fault] = []
        out["faults"] = done
        for i, name in enumerate(schedule):
            await asyncio.sleep(max(0.0, t0 + warm + i * spacing - time.monotonic()))
            if load_task.done():
                print(f"  the load ended before {name}: skipped", flush=True)
                continue
            print(f"  [{time.monotonic() - t0:6.1f} s] fault {name} …", end="", flush=True)
            fault = await injector.inject(name)
            done.append(fault)
            print(f" repaired after {fault.repaired - fault.hit:.1f} s {fault.detail} {' '.join(fault.notes)}",
                  flush=True)
        await load_task
        print(f"  [{time.monotonic() - t0:6.1f} s] load done; draining …", flush=True)
        final = needed(load, units, time.monotonic())
        deadline = time.monotonic() + args.drain
        while time.monotonic() < deadline:
            last = monitor.samples[-1] if monitor.samples else None
            if last and all(last.counts[k] >= final[k] for k in MONITORED):
                break
            await asyncio.sleep(1)
        await asyncio.sleep(3)  # escalations and the last facts after the last answer
        last = monitor.samples[-1].counts if monitor.samples else {}
        behind = {k: f"{last.get(k, 0)}/{final[k]}" for k in MONITORED if last.get(k, 0) < final[k]}
        print(f"  [{time.monotonic() - t0:6.1f} s] " + (f"NOT drained after {args.drain:.0f} s: {behind}; checking …"
              if behind else "drained; checking …"), flush=True)
        base = faults.Fault("(no fault: baseline)", hit=baseline_at)
        for f in [base, *done]:
            f.progress_s, f.progress_stage = monitor.progress_after(f.hit)
            f.catch_up_s, f.catch_up_stage = monitor.caught_up_after(f.hit, needed(load, units, f.hit))
        out["baseline"] = base
        if args.samples:
            Path(args.samples).write_text(json.dumps({
                "t0": t0, "samples": [{"t": round(x.t - t0, 2), **x.counts} for x in monitor.samples],
                "faults": [{"fault": f.name, "hit": round(f.hit - t0, 2),
                            "repaired": f.repaired and round(f.repaired - t0, 2)} for f in done]}))
        return await checker.run_check(units, run_tag, stack.postgres.dsn, bootstrap.split(","))
    finally:
        for t in background:
            t.cancel()
        await asyncio.gather(*background, return_exceptions=True)


def _fmt(v: float | None) -> str:
    return "—" if v is None else f"{v:.1f}"


def report(args: argparse.Namespace, out: dict, rep: checker.Report, started: float) -> None:
    load: Load = out["load"]
    subs = load.submissions
    http_partners, kafka_partners = out["partners"]
    print("\n=== chaos: figures ===")
    print(f"broker {args.broker}, {args.cases} submissions at {args.rate:g}/s, schedule {args.schedule}, "
          f"seed {args.seed}, {time.monotonic() - started:.0f} s in all")
    print(f"client: {sum(1 for s in subs if s.acked_at)} acknowledged, "
          f"{sum(1 for s in subs if s.gave_up)} given up, {sum(load.retries.values())} retries "
          f"({', '.join(f'{k}: {v}' for k, v in load.retries.most_common()) or 'none'}); "
          f"answers: {', '.join(f'{k}: {v}' for k, v in load.statuses.most_common())}; "
          f"longest wait for one of the client's {IN_FLIGHT} connections: {load.max_queue_s:.1f} s")
    for e in load.client_errors[:5]:
        print(f"  client error: {e}")
    for p in http_partners:
        print(f"partner {p.partner_id} (HTTP): {len(p.accepted)} accepted; errors: "
              f"{', '.join(f'{k}: {v}' for k, v in p.errors.most_common()) or 'none'}")
    for p in kafka_partners:
        print(f"partner {p.partner_id} (Kafka): {len(p.seen)} seen, {len(p.accepted)} answered, "
              f"{p.producer_restarts} client restarts; errors: "
              f"{', '.join(f'{k}: {v}' for k, v in p.errors.most_common()) or 'none'}")
    print(f"\n{'stage':<12}{'ok':>8}{'lost':>7}{'dup':>6}{'unexp':>7}  notes")
    for name, s in rep.stages.items():
        notes = "; ".join(f"{k}: {v}" for k, v in s.notes.most_common(3))
        print(f"{name:<12}{s.ok:>8}{s.lost:>7}{s.duplicated:>6}{s.unexpected:>7}  {notes}")
        for outcome, keys in s.examples.items():
            print(f"{'':<12}  {outcome}, e.g. {', '.join(keys[:3])}")
    print(f"\n{'topic':<46}{'keys':>7}{'out of order':>14}{'redelivered':>13}")
    for topic, (bad, keys) in sorted(rep.order.items()):
        print(f"{topic:<46}{keys:>7}{bad:>14}{rep.redelivered.get(topic, 0):>13}")
    for service, c in rep.relay.items():
        if c:
            print(f"outbox of {service}: " + ", ".join(f"{k}: {v}" for k, v in c.items()))
    for service, c in rep.dead_letters.items():
        if c:
            print(f"dead letters in {service}: " + ", ".join(f"{k}: {v}" for k, v in c.most_common(3)))
    for service, n in rep.parked.items():
        if n:
            print(f"parked, still waiting in {service}: {n}")
    if rep.unreadable:
        print(f"topic partitions not readable to their end ({len(rep.unreadable)}): {', '.join(rep.unreadable[:5])}")
    if rep.other_escalations:
        print("other escalations: " + ", ".join(f"{k}: {v}" for k, v in rep.other_escalations.items()))
    print(f"\n{'fault':<24}{'on':<8}{'repaired':>9}{'progress':>10} {'(last stage)':<13}{'catch-up':>9} (last stage)"
          "   seconds from the fault")
    for f in [out["baseline"], *out.get("faults", [])]:
        rep_s = None if f.repaired is None else f.repaired - f.hit
        print(f"{f.name:<24}{f.detail:<8}{_fmt(rep_s):>9}{_fmt(f.progress_s):>10} {f.progress_stage:<13}"
              f"{_fmt(f.catch_up_s):>9} {f.catch_up_stage}" + "".join(f"\n{'':<24}! {n}" for n in f.notes))
    m: Monitor = out["monitor"]
    print(f"(monitor: {len(m.samples)} samples, {m.failed_samples} missed"
          f"{', the last for ' + m.last_error if m.last_error else ''})")
    lost = sum(s.lost for s in rep.stages.values())
    dup = sum(s.duplicated for s in rep.stages.values())
    disorder = sum(b for b, _ in rep.order.values())
    print(f"\nRESULT: {'FAIL' if rep.failed else 'PASS'} — {lost} lost, {dup} duplicated, "
          f"{disorder} per-key order violations")
    print(json.dumps({
        "broker": args.broker, "cases": args.cases, "rate": args.rate, "schedule": args.schedule,
        "lost": lost, "duplicated": dup, "order_violations": disorder,
        "retries": sum(load.retries.values()),
        "stages": {k: {"ok": s.ok, "lost": s.lost, "duplicated": s.duplicated, "unexpected": s.unexpected}
                   for k, s in rep.stages.items()},
        "faults": [{"fault": f.name, "detail": f.detail, "repaired_s": None if f.repaired is None else
                    round(f.repaired - f.hit, 1), "progress_s": f.progress_s and round(f.progress_s, 1),
                    "catch_up_s": f.catch_up_s and round(f.catch_up_s, 1)} for f in out.get("faults", [])],
    }))


def _stack(run_dir: Path, broker: str) -> Stack:
    kw = {} if broker == "tansu" else {"broker_kind": broker}
    # repeats must join their case: intake's repeat window on (ephemeral() turns it off)
    return Stack.ephemeral(run_dir, extra_env={"SAMENWIJK_REPEAT_WINDOW_DAYS": "90"}, **kw)


def main(args: argparse.Namespace) -> int:
    started = time.monotonic()
    # the harness's own clients retry through every fault; their warnings would drown the figures
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)

    def stop(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, stop)
    limit = args.max_seconds or (args.cases / args.rate) * 2.5 + args.drain + 900
    with tempfile.TemporaryDirectory(prefix="samenwijk-chaos-") as tmp:
        stack = _stack(Path(tmp), args.broker)
        out: dict = {}
        try:
            print(f"starting the stack ({args.broker}) in {tmp} …", flush=True)
            stack.start()
            try:
                rep = asyncio.run(asyncio.wait_for(drive(stack, args, out), limit))
            except TimeoutError:
                if time.monotonic() - started < limit:
                    raise  # a timeout inside the harness, not the run's limit
                print(f"chaos: the time limit of {limit:.0f} s ran out", file=sys.stderr)
                return 3
            report(args, out, rep, started)
            return 1 if rep.failed else 0
        finally:
            print("stopping the stack …", flush=True)
            stack.stop()
            if args.keep_logs:
                for log in Path(tmp).rglob("*.log"):
                    target = Path(args.keep_logs) / log.relative_to(tmp)
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(log.read_bytes())
            stack.postgres.destroy()  # its data may sit outside tmp (root: a dir postgres can reach)


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=600, help="submissions (POST /v1/cases)")
    parser.add_argument("--rate", type=float, default=20, help="submissions per second (open loop)")
    parser.add_argument("--broker", choices=("tansu", "kafka"), default="tansu")
    parser.add_argument("--schedule", default="quick", help="quick | full | none | a comma list of faults")
    parser.add_argument("--restart-after", type=float, default=1.0, help="seconds a killed process stays down")
    parser.add_argument("--drain", type=float, default=180, help="seconds to wait for the pipeline to drain")
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--max-seconds", type=float, default=None, help="hard limit (default: from the load)")
    parser.add_argument("--samples", default=None, help="write the per-stage counts over time here (JSON)")
    parser.add_argument("--keep-logs", default=None, help="copy the services' logs here before cleaning up")
    args = parser.parse_args()
    try:
        sys.exit(main(args))
    except KeyboardInterrupt:
        print("chaos: interrupted; everything stopped and removed", file=sys.stderr)
        sys.exit(130)
