"""`loglake kafka-ingest`: consume Kafka topics into the lake exactly once, until caught up.

It runs `loglake.kafka.ingest`, the same function as the Dagster `kafka_ingest` asset, and
prints what it did; the entries are queryable (`loglake sql`, LogQL) as soon as each batch
is landed, and after `loglake flush` (or `--flush`) from chunks.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer

from loglake.cli import ConfigOpt, LakeOpt, TenantOpt, _settings, console, progress_bar

MultiOpt = list[str] | None


def _pairs(items: MultiOpt, what: str) -> dict[str, str]:
    out = {}
    for item in items or ():
        name, sep, value = item.partition("=")
        if not sep or not name:
            console.print(f"[red]error:[/red] {what} {item!r}: expected NAME=VALUE")
            raise typer.Exit(2)
        out[name.strip()] = value.strip()
    return out


def register(app: typer.Typer) -> None:
    """Add `kafka-ingest` to the CLI."""

    @app.command("kafka-ingest")
    def kafka_ingest(  # noqa: PLR0913 - one option per consumer setting
        brokers: Annotated[str, typer.Option(help="Bootstrap servers, host:port[,host:port].")],
        topics: Annotated[str, typer.Option(help="Comma-separated topic names or ^regexes.")],
        format: Annotated[
            str, typer.Option("--format", help="raw | loki-push | hubble | otlp-json.")
        ] = "raw",
        topic_format: Annotated[
            MultiOpt, typer.Option(help="Per-topic format, TOPIC=FORMAT (repeatable).")
        ] = None,
        labels: Annotated[
            str | None, typer.Option(help="Static stream labels, e.g. '{job=\"app\"}'.")
        ] = None,
        meta_label: Annotated[
            MultiOpt,
            typer.Option(
                help="Keep a discovered label: __meta_kafka_<x>=LABEL (repeatable; "
                "default __meta_kafka_topic=topic)."
            ),
        ] = None,
        group: Annotated[str, typer.Option(help="Consumer group id.")] = "loglake",
        tenant: TenantOpt = None,
        use_incoming_timestamp: Annotated[
            bool, typer.Option(help="raw: use the record timestamp instead of the read time.")
        ] = False,
        on_error: Annotated[
            str, typer.Option(help="Bad records: 'label' (store with __error__) or 'dead-letter'.")
        ] = "label",
        dead_letter_topic: Annotated[str | None, typer.Option(help="Bad-record topic.")] = None,
        client_config: Annotated[
            MultiOpt,
            typer.Option(help="librdkafka property KEY=VALUE, e.g. for SASL/TLS (repeatable)."),
        ] = None,
        batch_records: Annotated[int, typer.Option(help="Max records per landed batch.")] = 20_000,
        batch_wait: Annotated[float, typer.Option(help="Max seconds a record waits.")] = 1.0,
        max_records: Annotated[int | None, typer.Option(help="Stop after this many.")] = None,
        max_seconds: Annotated[float | None, typer.Option(help="Stop after this long.")] = None,
        follow: Annotated[bool, typer.Option(help="Keep consuming when caught up.")] = False,
        flush: Annotated[bool, typer.Option(help="Flush landing into chunks afterwards.")] = False,
        as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
        lake: LakeOpt = None,
        config: ConfigOpt = None,
    ) -> None:
        """Consume Kafka topics into the lake, exactly once, until caught up."""
        from loglake.kafka import KafkaIngestConfig, ingest
        from loglake.kafka.config import parse_label_option
        from loglake.lake import Lake

        settings = _settings(config, lake)
        options: dict = {}
        if meta_label:
            options["meta_labels"] = _pairs(meta_label, "--meta-label")
        try:
            cfg = KafkaIngestConfig(
                brokers=brokers,
                topics=tuple(t.strip() for t in topics.split(",") if t.strip()),
                format=format,
                topic_formats=_pairs(topic_format, "--topic-format"),
                group_id=group,
                tenant=tenant or settings.no_auth_tenant,
                labels=parse_label_option(labels),
                use_incoming_timestamp=use_incoming_timestamp,
                on_error=on_error,
                dead_letter_topic=dead_letter_topic,
                batch_max_records=batch_records,
                batch_max_wait_s=batch_wait,
                client_config=_pairs(client_config, "--client-config"),
                **options,
            )
        except ValueError as exc:
            console.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(2) from exc
        the_lake = Lake.open(settings)
        with progress_bar() as bar:
            task = bar.add_task("kafka-ingest", total=None, detail="")

            def progress(report) -> None:
                bar.update(
                    task,
                    completed=report.records,
                    detail=f"{report.lines} lines, {report.landing_objects} batches landed",
                )

            report = ingest(
                the_lake,
                cfg,
                until_caught_up=not follow,
                max_records=max_records,
                max_seconds=max_seconds,
                progress=progress,
            )
        flushed = the_lake.flush([cfg.tenant]) if flush else None
        if as_json:
            out = report.as_metadata() | {"partitions": report.partitions}
            if flushed is not None:
                out["flushed_rows"] = flushed.rows
            typer.echo(json.dumps(out, sort_keys=True))
            return
        console.print(
            f"ingested {report.records} records ({report.bytes / 1e6:.1f} MB) as "
            f"{report.lines} lines in {report.landing_objects} landing objects; "
            f"{report.bad_records} bad, {report.dead_lettered} dead-lettered, "
            f"{report.landing_conflicts} conflicts; lag {report.lag}; "
            f"{report.mb_per_s:.1f} MB/s, {'caught up' if report.caught_up else 'stopped'} "
            f"after {report.seconds:.1f}s"
        )
        if flushed is not None:
            console.print(f"flushed {flushed.rows} entries into {flushed.chunks} chunks")
