#!/usr/bin/python3
"""A live RTSP source for the recorder's tests: GStreamer's RTSP server (gst-rtsp-server, from
Debian) serving a solid colour in H.264 and a sine tone in AAC, like an IP camera, at
rtsp://127.0.0.1:PORT/live. All clients share one pipeline.

Usage: rtsp_server.py PORT RRGGBB FREQ   (PORT 0 picks a free port)
Prints "listening PORT" once it accepts connections; runs until killed. Exits 3 when GStreamer's
Python bindings, its RTSP server or a plugin the pipeline needs is missing.
"""
import sys

try:
    import gi
    gi.require_version("Gst", "1.0")
    gi.require_version("GstRtspServer", "1.0")
    from gi.repository import GLib, Gst, GstRtspServer
except (ImportError, ValueError) as e:
    print("missing: %s" % e, file=sys.stderr)
    sys.exit(3)

port, color, freq = sys.argv[1], int(sys.argv[2], 16), int(sys.argv[3])
Gst.init(None)
for name in ("videotestsrc", "x264enc", "rtph264pay", "audiotestsrc", "voaacenc", "rtpmp4gpay"):
    if Gst.ElementFactory.find(name) is None:
        print("missing: GStreamer element %s" % name, file=sys.stderr)
        sys.exit(3)

factory = GstRtspServer.RTSPMediaFactory()
factory.set_shared(True)
factory.set_launch(
    "( videotestsrc is-live=true pattern=solid-color foreground-color=%d"
    " ! video/x-raw,width=320,height=180,framerate=15/1"
    " ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=15"
    " ! rtph264pay name=pay0 pt=96 config-interval=1"
    " audiotestsrc is-live=true wave=sine freq=%d ! audio/x-raw,rate=48000,channels=1"
    " ! voaacenc ! rtpmp4gpay name=pay1 pt=97 )" % (0xFF000000 | color, freq))
server = GstRtspServer.RTSPServer()
server.set_address("127.0.0.1")
server.set_service(port)
server.get_mount_points().add_factory("/live", factory)
if server.attach(None) == 0:
    print("cannot listen on port %s" % port, file=sys.stderr)
    sys.exit(1)
print("listening %d" % server.get_bound_port(), flush=True)
GLib.MainLoop().run()
