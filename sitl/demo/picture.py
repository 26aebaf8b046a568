"""The picture of a finished demo run: where the UAVs flew, when they could talk, what arrived.

    map (left)               flight tracks, the ground station and its radio range,
                             detections as the cloud has them, retask targets
    mesh links (top right)   one row per node pair, a bar while the pair is in range
    detections (bottom right) fed and delivered to the cloud, cumulative

Rules:
- Draws a run read once by `sitl.demo.run_files.load_run` (the report reads the same one);
  the title carries the report's key figures (duration, delivered, lost, duplicates,
  inversions, ok).
- Positions are metres east and north of the ground station, from latitude and longitude
  by the same flat-earth rule as `sitl.world`; times are seconds since the run started.
- The outage is shaded on every time axis.
- Drawn with matplotlib's Agg canvas (no display, no pyplot state): 12 x 8 inches at
  100 dpi, always 1200 x 800 pixels.
"""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path
from typing import Any

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Circle

from sitl.geo import to_local

from .report import outage_window, uav_of
from .run_files import Run

SIZE = (12.0, 8.0)
DPI = 100


def draw(loaded: Run, report: dict[str, Any], png: Path) -> None:
    """Draw the run (read with `load_run`, with its `report`) to the PNG file `png`."""
    figure = Figure(figsize=SIZE, dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    grid = figure.add_gridspec(2, 2, width_ratios=(1.0, 1.2))
    colours = _colours(loaded)
    _map(figure.add_subplot(grid[:, 0]), loaded, colours)
    _links(figure.add_subplot(grid[0, 1]), loaded)
    _deliveries(figure.add_subplot(grid[1, 1]), loaded)
    figure.suptitle(title(report))
    figure.savefig(png, dpi=DPI, format="png")


def title(report: dict[str, Any]) -> str:
    run, detections = report["run"], report["ack_required"]["detections"]
    verdict = "OK" if report["ok"] else "NOT OK"
    return (
        f"EVENT swarm demo: {len(run['uavs'])} UAVs, {run['duration_s']:.0f} s - "
        f"detections {detections['delivered']}/{detections['fed']} at the cloud, "
        f"lost {report['lost']['total']}, duplicated {len(detections['duplicated'])}, "
        f"priority inversions {report['priority_order']['violations']} - {verdict}"
    )


def local(origin: list[float], lat: float, lon: float) -> tuple[float, float]:
    """Metres east and north of `origin` (latitude, longitude, ...)."""
    return to_local((origin[0], origin[1]), lat, lon)


def _colours(run: Run) -> dict[int, Any]:
    palette = [f"C{index}" for index in range(10)]
    return {int(uav): palette[index % 10] for index, uav in enumerate(run.header["uavs"])}


def _map(axes: Axes, run: Run, colours: dict[int, Any]) -> None:
    tracks: defaultdict[int, list[tuple[float, float]]] = defaultdict(list)
    for sample in run.world:
        for node, vehicle in sample.get("vehicles", {}).items():
            if isinstance(vehicle, dict) and {"x", "y"} <= vehicle.keys():
                tracks[int(node)].append((vehicle["x"], vehicle["y"]))
    for uav, points in sorted(tracks.items()):
        xs, ys = zip(*points, strict=True)
        axes.plot(xs, ys, color=colours.get(uav, "grey"), linewidth=1.2, label=f"UAV {uav}")
    range_m = run.header.get("range_m")
    if isinstance(range_m, int | float):
        circle = Circle((0, 0), range_m, fill=False, linestyle="--", color="grey")
        circle.set_label(f"radio range {range_m:.0f} m")
        axes.add_patch(circle)
    axes.plot(
        [0], [0], marker="^", markersize=11, color="black", linestyle="", label="ground station"
    )
    origin = run.header["origin"]
    for index, (record, _) in enumerate(run.detections()):
        lat, lon = record.payload.get("lat_deg"), record.payload.get("lon_deg")
        if isinstance(lat, int | float) and isinstance(lon, int | float):
            x, y = local(origin, lat, lon)
            colour = colours.get(uav_of(record.source) or 0, "grey")
            label = "detection" if index == 0 else None
            axes.plot(
                [x],
                [y],
                marker="o",
                markersize=6,
                markerfacecolor="none",
                color=colour,
                linestyle="",
                label=label,
            )
    for index, event in enumerate(run.kind("retask")):
        x, y = local(origin, event["lat"], event["lon"])
        axes.plot(
            [x],
            [y],
            marker="X",
            markersize=12,
            color="red",
            linestyle="",
            label="retask target" if index == 0 else None,
        )
        axes.annotate(
            f"retask UAV {event['uav']}",
            (x, y),
            textcoords="offset points",
            xytext=(6, 6),
            fontsize=8,
            color="red",
        )
    axes.set_aspect("equal", adjustable="datalim")
    axes.set_xlabel("east of the ground station (m)")
    axes.set_ylabel("north (m)")
    axes.set_title("flight tracks, radio range, detections")
    axes.legend(loc="upper left", fontsize=8)
    axes.grid(linewidth=0.3)


def _links(axes: Axes, run: Run) -> None:
    start = run.start
    spans: defaultdict[tuple[int, int], list[tuple[float, float]]] = defaultdict(list)
    for sample, following in zip(run.world, [*run.world[1:], None], strict=True):
        step = 1.0 if following is None else following["wall"] - sample["wall"]
        for pair in sample.get("links", []):
            if isinstance(pair, list) and len(pair) == 2:
                key = (min(pair), max(pair))
                bars = spans[key]
                at = sample["wall"] - start
                if bars and math.isclose(bars[-1][0] + bars[-1][1], at, abs_tol=1e-6):
                    bars[-1] = (bars[-1][0], bars[-1][1] + step)
                else:
                    bars.append((at, step))
    ground = run.header.get("ground_station", 255)
    pairs = sorted(spans, key=lambda pair: (ground not in pair, pair))
    for row, pair in enumerate(pairs):
        axes.broken_barh(spans[pair], (row - 0.35, 0.7), color="C0" if ground in pair else "C7")
    axes.set_yticks(range(len(pairs)), [_pair_name(pair, ground) for pair in pairs], fontsize=8)
    axes.set_ylim(-0.7, max(1, len(pairs)) - 0.3)
    _shade_outage(axes, run)
    axes.set_xlim(0, run.end - start)
    axes.set_title("mesh links in radio range")


def _pair_name(pair: tuple[int, int], ground: int) -> str:
    return " - ".join("GS" if node == ground else f"UAV {node}" for node in pair)


def _deliveries(axes: Axes, run: Run) -> None:
    start = run.start
    fed = sorted(event["wall"] - start for event in run.kind("detection_fed"))
    delivered = sorted(received - start for _, received in run.detections())
    for times, label, colour in (
        (fed, "fed to the agents", "C7"),
        (delivered, "at the cloud", "C2"),
    ):
        counts = [*range(len(times) + 1), len(times)]
        axes.step([0.0, *times, run.end - start], counts, where="post", label=label, color=colour)
    _shade_outage(axes, run)
    axes.set_xlim(0, run.end - start)
    axes.set_xlabel("seconds since the run started")
    axes.set_ylabel("detections")
    axes.set_title("detections, cumulative")
    axes.legend(loc="upper left", fontsize=8)
    axes.grid(linewidth=0.3)


def _shade_outage(axes: Axes, run: Run) -> None:
    window = outage_window(run)
    if window is not None:
        axes.axvspan(
            window.start - run.start,
            window.end - run.start,
            color="orange",
            alpha=0.25,
            zorder=0,
            label="cloud outage",
        )
