"""The paper's supervised toy tasks: Not-so-Clevr data, conv and CoordConv models, training."""
