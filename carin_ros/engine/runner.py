"""Serve one task's inference with its current design and hot-swap designs without stalling."""
from __future__ import annotations

import enum
import itertools
import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Protocol

from carin_ros.core.space import Design, Processor
from carin_ros.engine.session import repin_current_thread

log = logging.getLogger(__name__)


class Pipeline(Protocol):
    """What the runner serves: a loaded model with pre/post-processing (``TaskPipeline``)."""

    def __call__(self, sample: Any) -> Any: ...

    def warmup(self, n: int = 3) -> None: ...

    def close(self) -> None: ...


PipelineFactory = Callable[[Design, Processor], Pipeline]
"""Builds (loads) the pipeline of a design on a processor; may raise on failure."""


class RunnerClosed(RuntimeError):
    """The runner was closed; no more requests or switches are taken."""


class RunnerBusy(RuntimeError):
    """Too many requests are waiting; the caller should drop or retry this one."""


class InferenceError(RuntimeError):
    """The serving design's pipeline raised on a request."""

    def __init__(self, design: Design, cause: BaseException) -> None:
        super().__init__(f'{design.task}: design {design.key} failed: '
                         f'{type(cause).__name__}: {cause}')
        self.design = design
        self.cause = cause


@dataclass(frozen=True)
class Result:
    """One served request.

    ``latency_ms`` is the pipeline call alone; ``wait_ms`` the time the request queued
    before the worker took it (a switch that blocked serving would show up here).
    """

    prediction: Any
    design: Design
    latency_ms: float
    wait_ms: float
    seq: int

    @property
    def total_ms(self) -> float:
        return self.latency_ms + self.wait_ms


class SwitchStatus(enum.StrEnum):
    SWITCHED = 'switched'      # the new design now serves
    NOOP = 'noop'              # the requested design was already serving
    FAILED = 'failed'          # building or warming up failed; the old design keeps serving
    SUPERSEDED = 'superseded'  # a later switch request replaced this one before it took effect
    CLOSED = 'closed'          # the runner closed before the switch took effect


@dataclass(frozen=True)
class SwitchOutcome:
    """How a switch request ended; ``build_ms`` covers loading plus warm-up."""

    design: Design
    previous: Design
    status: SwitchStatus
    build_ms: float = 0.0
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status in (SwitchStatus.SWITCHED, SwitchStatus.NOOP)


@dataclass(frozen=True)
class RunnerStats:
    served: int
    failed: int
    rejected: int
    switches: int
    failed_switches: int
    superseded_switches: int
    pending: int


@dataclass(frozen=True)
class _Slot:
    design: Design
    processor: Processor
    pipeline: Pipeline


@dataclass(frozen=True)
class _Request:
    sample: Any
    future: Future
    submitted: float
    seq: int


@dataclass(frozen=True)
class _Retire:
    slot: _Slot


_STOP = object()


class SwitchableRunner:
    """Serves inference for one task with its current design, and hot-swaps designs.

    Requests run one at a time on a worker thread pinned to the serving processor's cores
    (unpinned for accelerators). :meth:`switch` builds and warms the next design on a builder
    thread while the current one keeps serving, then swaps it in between two requests; the old
    pipeline is closed off the serving path. A newer switch supersedes one in progress (its
    result, if built, is discarded); a failed build leaves the current design serving. When the
    serving pipeline raises, the request fails with :class:`InferenceError` and ``on_error``
    is called (on the worker thread) so the owner can switch to a fallback design.

    Standby: :meth:`set_standby` names designs to keep built and warm beside the serving one
    (the manager passes the design set's likely answers). The builder builds them when it has
    no switch to do; a switch to a warm design swaps it in at once, with no build, and the
    design it replaces stays warm when it is in the standby list too (so switching back is
    instant as well). Spares cost memory (one loaded session each), not CPU time.
    ``builder_nice`` lowers the builder thread's scheduling priority by that much (Linux nice
    levels): a build that shares the serving core then takes about a quarter of it at 5, so
    serving barely slows, while under heavy outside load the build itself slows accordingly
    (at 10 a build took two minutes with a load average of 10 on two cores); 0 disables it.
    """

    def __init__(self, task: str, factory: PipelineFactory,
                 processors: Mapping[str, Processor] | Iterable[Processor], initial: Design, *,
                 warmup_runs: int = 3, max_pending: int = 32, builder_nice: int = 5,
                 on_switch: Callable[[SwitchOutcome], None] | None = None,
                 on_error: Callable[[Design, BaseException], None] | None = None) -> None:
        if initial.task != task:
            raise ValueError(f'initial design {initial} is not of task {task!r}')
        if warmup_runs < 0 or max_pending < 1:
            raise ValueError('warmup_runs must be >= 0 and max_pending >= 1')
        self.task = task
        self._factory = factory
        self._processors = (dict(processors) if isinstance(processors, Mapping)
                            else {p.name: p for p in processors})
        self._warmup_runs = warmup_runs
        self._builder_nice = builder_nice
        self._max_pending = max_pending
        self._on_switch = on_switch
        self._on_error = on_error
        self._cond = threading.Condition()
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._seq = itertools.count()
        self._pending = 0
        self._served = self._failed = self._rejected = 0
        self._switches = self._failed_switches = self._superseded = 0
        self._closed = False
        self._closers: list[threading.Thread] = []
        self._gen = 0
        self._want: tuple[Design, Future, int] | None = None
        self._building: tuple[Design, Future, int] | None = None
        self._standby: tuple[Design, ...] = ()
        self._spares: dict[Design, _Slot] = {}
        self._spare_failed: set[Design] = set()
        # The first design is built synchronously: a runner always has a design to serve.
        self._active: _Slot = self._build(initial, self._processor(initial))
        self._worker = threading.Thread(target=self._serve, name=f'carin-serve-{task}',
                                        daemon=True)
        self._builder = threading.Thread(target=self._build_loop, name=f'carin-build-{task}',
                                         daemon=True)
        self._worker.start()
        self._builder.start()

    # -- public API ------------------------------------------------------------------------
    @property
    def design(self) -> Design:
        """The design serving now."""
        return self._active.design

    @property
    def switching_to(self) -> Design | None:
        """The design being built or waiting to be built, if any."""
        with self._cond:
            if self._want is not None:
                return self._want[0]
            if self._building is not None and self._building[2] == self._gen:
                return self._building[0]
            return None

    @property
    def standby(self) -> tuple[Design, ...]:
        """The designs built and warm beside the serving one, in standby-list order."""
        with self._cond:
            return tuple(d for d in self._standby if d in self._spares)

    def set_standby(self, designs: Iterable[Design]) -> None:
        """Keep ``designs`` built and warm (in this order of priority) so a switch to one of
        them needs no build. Spares no longer listed are closed; the serving design needs no
        spare. Designs of another task or on unknown processors raise ValueError."""
        wanted: list[Design] = []
        for d in designs:
            if d.task != self.task:
                raise ValueError(f'standby design {d} is not of task {self.task!r}')
            self._processor(d)
            if d not in wanted:
                wanted.append(d)
        with self._cond:
            if self._closed:
                raise RunnerClosed(f'runner for {self.task} is closed')
            self._standby = tuple(wanted)
            self._spare_failed.clear()
            dropped = [self._spares.pop(d) for d in list(self._spares) if d not in wanted]
            self._cond.notify_all()
        for slot in dropped:  # never serving: no request can hold it
            _close_quietly(slot)

    def submit(self, sample: Any) -> Future:
        """Queue one request; the future gives a :class:`Result` or raises InferenceError."""
        fut: Future = Future()
        with self._cond:
            if self._closed:
                raise RunnerClosed(f'runner for {self.task} is closed')
            if self._pending >= self._max_pending:
                self._rejected += 1
                raise RunnerBusy(f'{self.task}: {self._pending} requests already waiting')
            self._pending += 1
            # Queued under the lock so that no request can land behind close()'s stop marker.
            self._queue.put(_Request(sample, fut, time.perf_counter(), next(self._seq)))
        return fut

    def infer(self, sample: Any, timeout: float | None = None) -> Result:
        """Run one request and wait for it."""
        return self.submit(sample).result(timeout)

    def switch(self, design: Design) -> Future:
        """Ask to serve ``design``; returns a future of its :class:`SwitchOutcome`.

        Returns at once; building happens on the builder thread. Unknown processors and
        designs of another task raise ValueError here.
        """
        if design.task != self.task:
            raise ValueError(f'design {design} is not of task {self.task!r}')
        self._processor(design)
        resolved: list[tuple[Future, SwitchOutcome]] = []
        with self._cond:
            if self._closed:
                raise RunnerClosed(f'runner for {self.task} is closed')
            if self._want is not None and self._want[0] == design:
                return self._want[1]
            if self._want is None and self._building is not None and \
                    self._building[0] == design and self._building[2] == self._gen:
                return self._building[1]
            current = self._active.design
            self._gen += 1  # anything requested or being built before now is superseded
            if self._want is not None:
                self._superseded += 1
                resolved.append((self._want[1], SwitchOutcome(self._want[0], current,
                                                              SwitchStatus.SUPERSEDED)))
                self._want = None
            fut: Future = Future()
            if design == current:
                resolved.append((fut, SwitchOutcome(design, current, SwitchStatus.NOOP)))
            elif design in self._spares:
                resolved.append((fut, self._swap_in_spare_locked(design)))
            else:
                self._want = (design, fut, self._gen)
                self._cond.notify_all()
        for f, outcome in resolved:  # callbacks run outside the lock
            self._resolve(f, outcome)
        return fut

    def stats(self) -> RunnerStats:
        with self._cond:
            return RunnerStats(self._served, self._failed, self._rejected, self._switches,
                               self._failed_switches, self._superseded, self._pending)

    def close(self, timeout: float = 30.0) -> None:
        """Finish queued requests, stop both threads and close the pipelines."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            want, self._want = self._want, None
            self._cond.notify_all()
        if want is not None:
            self._resolve(want[1], SwitchOutcome(want[0], self.design, SwitchStatus.CLOSED))
        self._queue.put(_STOP)
        self._worker.join(timeout)
        self._builder.join(timeout)
        for closer in self._closers:
            closer.join(timeout)
        while not self._queue.empty():  # a retired pipeline queued behind the stop marker
            item = self._queue.get_nowait()
            if isinstance(item, _Retire):
                _close_quietly(item.slot)
        with self._cond:
            spares, self._spares = list(self._spares.values()), {}
        for slot in spares:
            _close_quietly(slot)
        _close_quietly(self._active)

    def __enter__(self) -> SwitchableRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals -------------------------------------------------------------------------
    def _processor(self, design: Design) -> Processor:
        try:
            return self._processors[design.processor]
        except KeyError:
            raise ValueError(f'design {design.key}: unknown processor {design.processor!r} '
                             f'(known: {", ".join(self._processors)})') from None

    def _build(self, design: Design, processor: Processor) -> _Slot:
        # Build and warm up on the processor's cores, then give the calling thread its own
        # affinity back: the first build runs on the caller's thread (a node's main thread),
        # and every thread it starts later would inherit a pinned mask.
        saved = os.sched_getaffinity(0) if hasattr(os, 'sched_getaffinity') else None
        try:
            repin_current_thread(processor)
            pipeline = self._factory(design, processor)
            try:
                if self._warmup_runs:
                    pipeline.warmup(self._warmup_runs)
            except BaseException:
                _close_quietly(_Slot(design, processor, pipeline))
                raise
        finally:
            if saved is not None:
                os.sched_setaffinity(0, saved)
        return _Slot(design, processor, pipeline)

    def _swap_in_spare_locked(self, design: Design) -> SwitchOutcome:
        """Serve the warm spare of ``design`` from the next request on (caller holds the
        lock). The replaced design stays warm if it is on standby, else it is retired."""
        slot = self._spares.pop(design)
        previous, self._active = self._active, slot
        self._switches += 1
        if previous.design in self._standby:
            self._spares[previous.design] = previous
        else:
            self._queue.put(_Retire(previous))  # closed after the requests that may use it
        return SwitchOutcome(design, previous.design, SwitchStatus.SWITCHED, 0.0)

    def _next_spare_locked(self) -> Design | None:
        for d in self._standby:
            if d != self._active.design and d not in self._spares and \
                    d not in self._spare_failed:
                return d
        return None

    def _build_spare(self, design: Design) -> None:
        """Build a standby design (builder thread, nothing else to do)."""
        try:
            slot = self._build(design, self._processor(design))
        except Exception as exc:
            log.warning('%s: standby design %s could not be built: %s', self.task,
                        design.key, exc)
            with self._cond:
                self._spare_failed.add(design)
            return
        with self._cond:
            keep = not self._closed and design in self._standby and \
                design != self._active.design and design not in self._spares
            if keep:
                self._spares[design] = slot
        if not keep:
            _close_quietly(slot)

    def _build_loop(self) -> None:
        # Lower the builder's priority (Linux: per thread) so that a build sharing a core with
        # the serving thread gives way to it; 0 leaves it as is.
        if self._builder_nice > 0 and hasattr(os, 'setpriority'):
            try:
                os.setpriority(os.PRIO_PROCESS, threading.get_native_id(),
                               os.getpriority(os.PRIO_PROCESS, 0) + self._builder_nice)
            except OSError as exc:
                log.debug('%s: cannot lower the builder priority: %s', self.task, exc)
        while True:
            outcome: SwitchOutcome | None = None
            with self._cond:
                spare = None
                while self._want is None and not self._closed:
                    spare = self._next_spare_locked()
                    if spare is not None:  # nothing to switch to: warm a standby design
                        break
                    self._cond.wait()
                if self._closed:
                    return
                if spare is None:
                    design, fut, gen = self._want
                    self._want = None
                    if design in self._spares:  # warmed while the request waited
                        outcome = self._swap_in_spare_locked(design)
                    else:
                        self._building = (design, fut, gen)
            if spare is not None:
                self._build_spare(spare)
                continue
            if outcome is not None:
                self._resolve(fut, outcome)
                continue
            previous = self._active.design
            t0 = time.perf_counter()
            try:
                slot = self._build(design, self._processor(design))
            except Exception as exc:
                build_ms = (time.perf_counter() - t0) * 1e3
                log.warning('%s: switch to %s failed: %s', self.task, design.key, exc)
                with self._cond:
                    self._building = None
                    self._failed_switches += 1
                self._resolve(fut, SwitchOutcome(design, previous, SwitchStatus.FAILED,
                                                 build_ms, f'{type(exc).__name__}: {exc}'))
                continue
            build_ms = (time.perf_counter() - t0) * 1e3
            with self._cond:
                self._building = None
                if self._closed or gen != self._gen:
                    status = SwitchStatus.CLOSED if self._closed else SwitchStatus.SUPERSEDED
                    self._superseded += status == SwitchStatus.SUPERSEDED
                    retire = slot
                else:
                    status = SwitchStatus.SWITCHED
                    retire, self._active = self._active, slot
                    self._switches += 1
                    if retire.design in self._standby and retire.design not in self._spares:
                        self._spares[retire.design], retire = retire, None
            if retire is None:
                pass  # the replaced design stays warm on standby
            elif status == SwitchStatus.SWITCHED:
                # Closed by the worker after the requests that may still use it.
                self._queue.put(_Retire(retire))
            else:
                _close_quietly(retire)
            self._resolve(fut, SwitchOutcome(design, previous, status, build_ms))

    def _serve(self) -> None:
        pinned: Processor | None = None
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            if isinstance(item, _Retire):
                closer = threading.Thread(target=_close_quietly, args=(item.slot,),
                                          name=f'carin-retire-{self.task}', daemon=True)
                closer.start()
                self._closers = [t for t in self._closers if t.is_alive()] + [closer]
                continue
            slot = self._active  # one atomic read: the design for this whole request
            if slot.processor != pinned:
                repin_current_thread(slot.processor)
                pinned = slot.processor
            start = time.perf_counter()
            try:
                prediction = slot.pipeline(item.sample)
            except Exception as exc:
                with self._cond:
                    self._pending -= 1
                    self._failed += 1
                item.future.set_exception(InferenceError(slot.design, exc))
                if self._on_error is not None:
                    try:
                        self._on_error(slot.design, exc)
                    except Exception:
                        log.exception('%s: on_error callback raised', self.task)
                continue
            end = time.perf_counter()
            with self._cond:
                self._pending -= 1
                self._served += 1
            item.future.set_result(Result(prediction, slot.design, (end - start) * 1e3,
                                          (start - item.submitted) * 1e3, item.seq))

    def _resolve(self, fut: Future, outcome: SwitchOutcome) -> None:
        if fut.done():
            return
        fut.set_result(outcome)
        if self._on_switch is not None:
            try:
                self._on_switch(outcome)
            except Exception:
                log.exception('%s: on_switch callback raised', self.task)


def _close_quietly(slot: _Slot) -> None:
    try:
        slot.pipeline.close()
    except Exception:
        log.exception('closing %s raised', slot.design.key)
    release_free_memory()


_LIBC: Any = None


def release_free_memory() -> None:
    """Return freed heap pages to the OS (glibc ``malloc_trim``; a no-op elsewhere).

    Loading and closing ONNX Runtime sessions at every switch fragments the glibc heap: in
    a long run the serving process grew ~2.5 MB per switch without this, flat with it
    (docs/reliability.md).
    """
    global _LIBC
    if _LIBC is None:
        try:
            import ctypes
            libc = ctypes.CDLL('libc.so.6')
            _LIBC = libc if hasattr(libc, 'malloc_trim') else False
        except OSError:
            _LIBC = False
    if _LIBC:
        _LIBC.malloc_trim(0)


def zoo_factory(zoo: Any) -> PipelineFactory:
    """A factory that loads designs from a model zoo with ``engine.tasks.load_pipeline``."""
    from carin_ros.engine.tasks import load_pipeline

    def build(design: Design, processor: Processor) -> Pipeline:
        return load_pipeline(zoo, design.task, design.variant, processor)
    return build
