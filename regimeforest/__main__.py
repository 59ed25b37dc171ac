from regimeforest.cli import app

app()
