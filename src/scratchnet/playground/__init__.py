"""The playground: watch a scratchnet network learn, live, in the browser.

``scratchnet playground`` on the command line, or from Python and Jupyter::

    import scratchnet.playground
    url = scratchnet.playground.launch()   # a background server; inline in Jupyter

Training runs in the server with scratchnet's own engine (``session.Session``);
the page (``static/``) only draws. The server needs the ``playground`` extra:
``pip install 'scratchnet[playground]'``.
"""


def launch(port: int = 0, host: str = "127.0.0.1", open_browser: bool = False, inline=None) -> str:
    """Start the playground in a background thread; returns its URL (see ``server.launch``)."""
    from .server import launch as _launch

    return _launch(port=port, host=host, open_browser=open_browser, inline=inline)
