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


def test_checkpoints_are_whole_pruned_and_the_newest_readable_one_loads(tmp_path, capsys):
    from coordrl.runs import list_checkpoints, load_newest_checkpoint, write_checkpoint

    for step in (10, 20, 30):
        write_checkpoint(tmp_path, step, 2, lambda d, s=step: (d / "x").write_text(str(s)))
    assert [s for s, _ in list_checkpoints(tmp_path)] == [20, 30]

    def dies(folder):
        (folder / "x").write_text("half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_checkpoint(tmp_path, 40, 2, dies)
    assert [s for s, _ in list_checkpoints(tmp_path)] == [20, 30]
    (list_checkpoints(tmp_path)[-1][1] / "x").write_text("garbage")
    loaded = load_newest_checkpoint(tmp_path, lambda d: int((d / "x").read_text()))
    assert loaded == (20, 20)
    assert "skipping unreadable checkpoint" in capsys.readouterr().out
    assert load_newest_checkpoint(tmp_path / "none", lambda d: 1) is None


def test_a_kill_while_pruning_leaves_no_half_deleted_checkpoint_to_load(tmp_path, monkeypatch):
    import shutil

    from coordrl.runs import list_checkpoints, write_checkpoint

    for step in (10, 20):
        write_checkpoint(tmp_path, step, 2, lambda d: [(d / n).write_text("whole") for n in "xy"])
    real_rmtree = shutil.rmtree

    def killed_half_way(path, *args, **kwargs):  # deletes one file of two, then dies
        if "step_000000000010" not in path.name:  # the checkpoint being pruned
            return real_rmtree(path, *args, **kwargs)
        next(iter(sorted(path.iterdir()))).unlink()
        raise KeyboardInterrupt

    monkeypatch.setattr(shutil, "rmtree", killed_half_way)
    with pytest.raises(KeyboardInterrupt):
        write_checkpoint(tmp_path, 30, 2, lambda d: [(d / n).write_text("whole") for n in "xy"])
    monkeypatch.setattr(shutil, "rmtree", real_rmtree)
    # the checkpoint being pruned had left the step names first: none of them is damaged
    assert [s for s, _ in list_checkpoints(tmp_path)] == [20, 30]
    assert all((p / "x").read_text() == "whole" for _, p in list_checkpoints(tmp_path))
    write_checkpoint(tmp_path, 40, 2, lambda d: (d / "x").write_text("whole"))
    names = sorted(p.name for p in (tmp_path / "checkpoints").iterdir())
    assert names == ["step_000000000030", "step_000000000040"]  # the leftover is cleaned


@pytest.mark.parametrize("left", ["empty", "rows without a header"])
def test_an_episode_log_a_kill_left_without_its_header_is_repaired(tmp_path, left):
    from coordrl.episodes import COLUMNS, EpisodeLog, Episodes, read_episodes

    log = tmp_path / "episodes.csv"
    log.write_text("" if left == "empty" else "100,0,3,50,,1.5\n")
    with EpisodeLog(log, resume_step=100) as episodes:
        episodes.write(Episodes.from_rows([(200, 1, 4.0, 60, None)]), 2.5)
    lines = log.read_text().splitlines()
    assert lines[0] == ",".join(COLUMNS)
    assert read_episodes(log).step.tolist() == ([200] if left == "empty" else [100, 200])


def test_a_new_episode_log_appears_with_its_header(tmp_path):
    from coordrl.episodes import COLUMNS, EpisodeLog

    log = tmp_path / "episodes.csv"
    with EpisodeLog(log):
        assert log.read_text() == ",".join(COLUMNS) + "\n"
