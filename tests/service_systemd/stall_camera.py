"""A network camera that can be made to stall: a video file served as an MJPEG stream over HTTP.

Run inside the container as a transient service (``systemd-run``) for the watchdog test: edgepose
reads ``http://127.0.0.1:PORT/stream.mjpg`` as a ``stream`` source through OpenCV's FFmpeg, as it
would an IP camera. While the pause file exists, the camera stops sending but keeps every
connection open and accepts new ones without answering: the source read blocks until OpenCV's
timeout, reopening hangs too, no frame reaches the pipeline. That is a real stall of the feed,
not a stopped process. Removing the file lets frames flow again.

    python stall_camera.py VIDEO PORT PAUSE_FILE
"""

from __future__ import annotations

import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import cv2

BOUNDARY = "edgeposeframe"


def encode_frames(video: Path, every: int = 2, width: int = 640) -> list[bytes]:
    """JPEG images of every ``every``-th frame, scaled to ``width`` (the stream's size, not the file's)."""
    cap = cv2.VideoCapture(str(video))
    frames: list[bytes] = []
    index = 0
    while True:
        ok, bgr = cap.read()
        if not ok:
            break
        if index % every == 0:
            height = round(bgr.shape[0] * width / bgr.shape[1])
            ok, jpeg = cv2.imencode(".jpg", cv2.resize(bgr, (width, height)), [cv2.IMWRITE_JPEG_QUALITY, 80])
            if ok:
                frames.append(jpeg.tobytes())
        index += 1
    cap.release()
    if not frames:
        raise SystemExit(f"camera: no frames in {video}")
    return frames


def make_handler(frames: list[bytes], pause: Path, fps: float) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:  # one line per connection is enough
            sys.stderr.write(f"camera: {self.address_string()} {format % args}\n")

        def do_GET(self) -> None:
            while pause.exists():  # a paused camera does not even answer
                time.sleep(0.1)
            self.send_response(200)
            self.send_header("Content-Type", f"multipart/x-mixed-replace;boundary={BOUNDARY}")
            self.send_header("Cache-Control", "no-cache")
            self.end_headers()
            n = 0
            try:
                while True:
                    while pause.exists():
                        time.sleep(0.1)
                    jpeg = frames[n % len(frames)]
                    head = f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n"
                    self.wfile.write(head.encode() + jpeg + b"\r\n")
                    self.wfile.flush()
                    n += 1
                    time.sleep(1.0 / fps)
            except (BrokenPipeError, ConnectionResetError):
                return

    return Handler


def main() -> None:
    video, port, pause = Path(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])
    frames = encode_frames(video)
    server = ThreadingHTTPServer(("127.0.0.1", port), make_handler(frames, pause, fps=12.5))
    server.daemon_threads = True
    sys.stderr.write(f"camera: {len(frames)} frames of {video} on http://127.0.0.1:{port}/stream.mjpg\n")
    threading.Thread(target=server.serve_forever, daemon=True).start()
    threading.Event().wait()


if __name__ == "__main__":
    main()
