"""``lecun89 serve``: the local web page where a person draws a digit and watches every layer read it."""

from __future__ import annotations

import argparse
import re
import signal

from lecun89.cli.args import add_data_dir, add_model


def port_number(text: str) -> int:
    """argparse type: a TCP port 0..65535 (0: any free port)."""
    if not re.fullmatch(r"[0-9]{1,5}", text) or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"expected a port number 0..65535 (0: any free port), got {text!r}")
    return int(text)


def run(args) -> int:
    from lecun89.serve import App, make_server

    app = App(args.model, args.data_dir)
    server = make_server(app, args.host, args.port, args.access_log)
    note = "" if server.server_address[0] in ("127.0.0.1", "::1", "localhost") else \
        "; reachable from other machines"
    print(f"lecun89 serve: {server.url} (model {app.default}{note}; Ctrl-C stops)", flush=True)
    signal.signal(signal.SIGTERM, _interrupt)   # a kill stops it as Ctrl-C does: its training run's folder goes
    try:
        # Every request thread computes with one BLAS thread: lecun89.cli.main holds one_thread around this.
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        print("lecun89 serve: stopped", flush=True)
    finally:
        server.server_close()
        app.training.close()
    return 0


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def add_parser(sub) -> None:
    from lecun89.serve import DEFAULT_HOST, DEFAULT_PORT

    p = sub.add_parser("serve", help="a local web page: draw a digit, watch every layer read it",
                       description="Serve a web page (no internet needed) where you draw a digit with a mouse, "
                                   "pen or finger and see what the network sees: the 16x16 input, the 12 H1 and "
                                   "12 H2 feature maps, the 30 H3 units, the 10 outputs, the decision and its "
                                   "rejection; a second tab walks through the USPS test set, mistakes first. "
                                   "JSON API under /api/ (see lecun89/serve/__init__.py).")
    p.add_argument("--port", type=port_number, default=DEFAULT_PORT,
                   help=f"TCP port (default {DEFAULT_PORT}; 0: any free port, the URL is printed)")
    p.add_argument("--host", default=DEFAULT_HOST,
                   help=f"address to listen on (default {DEFAULT_HOST}: this machine only)")
    add_model(p)
    add_data_dir(p, "the USPS files there feed the test-set tab")
    p.add_argument("--access-log", action="store_true", help="print one line per request on stderr")
    p.set_defaults(func=run)
