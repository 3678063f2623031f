"""Run-directory helpers: atomic writes and never overwriting a finished run."""

from __future__ import annotations

import pytest

from coordrl.runs import atomic_path, fresh_run_dir


def test_atomic_path_replaces_whole_or_leaves_the_old_file(tmp_path):
    target = tmp_path / "result.json"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half-writ")
        raise RuntimeError("interrupted mid-write")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["result.json"]  # no temp file left
    with atomic_path(target) as tmp:
        tmp.write_text("new")
    assert target.read_text() == "new"


def test_fresh_run_dir_never_reuses_a_finished_run(tmp_path):
    run = tmp_path / "run"
    assert fresh_run_dir(run) == run
    run.mkdir()
    assert fresh_run_dir(run) == run  # started but unfinished: reused
    (run / "result.json").write_text("{}")
    (tmp_path / "run-2").mkdir()
    (tmp_path / "run-2" / "result.json").write_text("{}")
    assert fresh_run_dir(run) == tmp_path / "run-3"


def test_truncate_log_drops_rows_after_the_step_and_keeps_the_header(tmp_path):
    from coordrl.runs import truncate_log

    log = tmp_path / "log.csv"
    log.write_text("step,score\n10,1\n20,2\n30,3\n")
    truncate_log(log, 20)
    assert log.read_text().splitlines() == ["step,score", "10,1", "20,2"]
    truncate_log(log, 0)
    assert log.read_text().splitlines() == ["step,score"]
    truncate_log(tmp_path / "absent.csv", 5)  # nothing to do
    assert not (tmp_path / "absent.csv").exists()
