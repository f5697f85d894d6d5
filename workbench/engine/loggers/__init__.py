"""Experiment loggers: a run's events also go to TensorBoard and MLflow, as the config's ``[log]`` section asks.

Each logger is a :class:`~workbench.engine.hooks.Callback` that hands the hook payloads to its
backend in a thread of its own (:class:`BackgroundLogger`), so a slow disk or a slow server
never holds a training batch up, and a failing one never stops training: its first error
becomes one warning, in the ``workbench`` log and in the run folder's ``warnings.txt``, and
that logger stops. The backends import their packages (optional extras) only when switched on.
"""

from __future__ import annotations

from pathlib import Path

from workbench.config import LogConfig
from workbench.engine.hooks import Callback
from workbench.engine.loggers.background import BackgroundLogger, warn_in_run


def experiment_loggers(log_cfg: LogConfig, run_dir: Path) -> list[Callback]:
    """The loggers the config switches on, in the order TensorBoard, MLflow."""
    from workbench.engine.loggers.mlflow_logger import MlflowBackend
    from workbench.engine.loggers.tensorboard_logger import TensorBoardBackend

    loggers: list[Callback] = []
    if log_cfg.tensorboard:
        loggers.append(BackgroundLogger("TensorBoard", run_dir, lambda: TensorBoardBackend(run_dir)))
    if log_cfg.mlflow_uri.strip():
        uri, experiment = log_cfg.mlflow_uri.strip(), log_cfg.mlflow_experiment
        loggers.append(BackgroundLogger("MLflow", run_dir, lambda: MlflowBackend(run_dir, uri, experiment)))
    return loggers


__all__ = ["BackgroundLogger", "experiment_loggers", "warn_in_run"]
