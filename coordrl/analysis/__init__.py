"""Reading run directories and comparing conv with CoordConv across seeds."""
