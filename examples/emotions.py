#!/usr/bin/env python3
# SPDX-License-Identifier: MPL-2.0
"""Run an audio file through emotiondetect; print one JSON object per result.

Each window result is printed twice, once as read from the bus message
(`"source": "bus"`) and once from the `EmotionMeta` on the buffer that
completed the window (`"source": "meta"`). A buffer carries one
`EmotionMeta` whose `results` field lists every result it completes (one
per channel with channel-mode=independent). Segments and summaries come
from the bus only.

Element properties follow the file as NAME=VALUE, e.g. for a stereo call
with the agent on the left channel:

    emotions.py call.wav channel-mode=independent channel-names=agent,customer

Needs PyGObject with the GStreamer overrides (Debian: python3-gi and
python3-gst-1.0; without the overrides, arrays in structures fail with
"unknown type GstValueArray"), and the plugin on GST_PLUGIN_PATH:

    GST_PLUGIN_PATH=target/release /usr/bin/python3 examples/emotions.py call.wav
"""
import json
import sys
import threading

import gi

gi.require_version("Gst", "1.0")
from gi.repository import Gst  # noqa: E402

CLOCK_TIME_NONE = 2**64 - 1


def to_json_value(value):
    if isinstance(value, Gst.Structure):
        return structure_to_dict(value, None)
    if isinstance(value, Gst.ValueArray):
        return [to_json_value(v) for v in value]
    if isinstance(value, int) and value == CLOCK_TIME_NONE:
        return None
    return value


# The pad probe runs in the streaming thread, the bus loop in the main one.
_print_lock = threading.Lock()


def emit(structure, source):
    with _print_lock:
        print(json.dumps(structure_to_dict(structure, source)), flush=True)


def structure_to_dict(structure, source):
    out = {"type": structure.get_name()}
    if source is not None:
        out["source"] = source
    for i in range(structure.n_fields()):
        name = structure.nth_field_name(i)
        out[name] = to_json_value(structure.get_value(name))
    return out


def main(path, properties):
    Gst.init(None)
    # pushfilesrc makes the file push its data: pulled, GStreamer 1.22's wavparse drops a WAV whose data chunk has
    # an odd length (8-bit and G.711 audio with an odd number of samples); `filesrc ! queue ! decodebin` pushes
    # too but can deadlock at the start on 1.22 (examples/emotions.rs).
    pipeline = Gst.parse_launch(
        "pushfilesrc name=src ! decodebin ! audioconvert ! audioresample ! emotiondetect name=detect ! fakesink name=sink"
    )
    pipeline.get_by_name("src").set_property("location", path)
    detect = pipeline.get_by_name("detect")
    for prop in properties:
        name, _, value = prop.partition("=")
        if detect.find_property(name) is None:
            print(f"emotions.py: emotiondetect has no property {name!r}", file=sys.stderr)
            return 2
        Gst.util_set_object_arg(detect, name, value)

    def on_buffer(_pad, info):
        meta = info.get_buffer().get_custom_meta("EmotionMeta")
        if meta is not None:
            for result in meta.get_structure().get_value("results"):
                emit(result, "meta")
        return Gst.PadProbeReturn.OK

    pipeline.get_by_name("sink").get_static_pad("sink").add_probe(Gst.PadProbeType.BUFFER, on_buffer)

    bus = pipeline.get_bus()
    if pipeline.set_state(Gst.State.PLAYING) == Gst.StateChangeReturn.FAILURE:
        msg = bus.pop_filtered(Gst.MessageType.ERROR)
        err = msg.parse_error()[0].message if msg else "the pipeline failed to start"
        pipeline.set_state(Gst.State.NULL)
        print(f"emotions.py: {err}", file=sys.stderr)
        return 1
    status = 0
    while True:
        msg = bus.timed_pop_filtered(
            Gst.CLOCK_TIME_NONE, Gst.MessageType.ELEMENT | Gst.MessageType.EOS | Gst.MessageType.ERROR
        )
        if msg.type == Gst.MessageType.ELEMENT:
            s = msg.get_structure()
            if s.get_name().startswith("emotion"):
                emit(s, "bus")
        elif msg.type == Gst.MessageType.ERROR:
            print(f"emotions.py: {msg.parse_error()[0].message}", file=sys.stderr)
            status = 1
            break
        else:
            break
    pipeline.set_state(Gst.State.NULL)
    return status


if __name__ == "__main__":
    if len(sys.argv) < 2:
        print("usage: emotions.py FILE [PROPERTY=VALUE ...]", file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1], sys.argv[2:]))
