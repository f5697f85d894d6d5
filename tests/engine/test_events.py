"""One event stream: a listener sees exactly the records metrics.jsonl stores, and every record reads as one log line."""

from __future__ import annotations

import json
import typing

import pytest

from workbench.engine import hooks
from workbench.engine.events import describe_event
from workbench.engine.hooks import EVENT_OF_HOOK, HOOKS, EventListener
from workbench.engine.runs import RunRecord, logged_fields
from workbench.engine.trainer import Trainer

from tiny_runs import tiny_config, write_tiny_dataset


class Collector(EventListener):
    def __init__(self):
        self.records: list[dict] = []

    def on_event(self, record: dict) -> None:
        self.records.append(record)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("events")
    collector = Collector()
    trainer = Trainer(tiny_config(write_tiny_dataset(root / "data"), root / "runs", epochs=1),
                      callbacks=[collector])
    trainer.fit()
    return trainer.run_dir, collector.records


def test_every_hook_has_an_event_name_and_a_payload_type():
    assert set(EVENT_OF_HOOK) == set(HOOKS) and len(set(EVENT_OF_HOOK.values())) == len(HOOKS)
    for hook in HOOKS:
        annotation = typing.get_type_hints(getattr(hooks.Callback, hook))["payload"]
        assert typing.is_typeddict(annotation), hook


def test_a_listener_gets_the_records_the_run_folder_stores(finished_run):
    run_dir, records = finished_run
    stored = RunRecord.open(run_dir).events()
    as_json = [json.loads(json.dumps(logged_fields(record), default=lambda value: value.tolist()))
               for record in records]
    assert as_json == stored
    assert [record["event"] for record in records][0] == "fit_start"
    validation = next(record for record in records if record["event"] == "validation")
    assert "predictions" in validation and "predictions" not in logged_fields(validation)


def test_each_record_but_a_batch_reads_as_one_line(finished_run):
    run_dir, records = finished_run
    planned = records[0]["epochs"]
    lines = {record["event"]: describe_event(record, planned) for record in records}
    assert lines["train_batch"] is None
    assert lines["fit_start"].startswith("Training in ")
    assert lines["stage_start"] == "Student stage: 1 epochs"
    assert lines["validation"].startswith("Student epoch 1/1: val accuracy student ")
    assert lines["stage_end"].startswith("Student stage done after 1 epoch(s); best val_accuracy ")
    assert lines["fit_end"] == f"Run finished. Folder: {run_dir}"
    assert describe_event({"event": "exception", "message": "out of memory"}) == "Run failed: out of memory"
