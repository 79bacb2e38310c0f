this = "is not part of the pipeline"
