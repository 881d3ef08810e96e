from samdesk.cli import run

run()
