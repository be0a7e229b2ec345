"""The tasks models do, as the rest of Berth calls them: typed inputs and outputs per task.

A leaf package: runners take and give these types, the pool carries them between processes,
and the inference service checks a model does the task before any of them reaches it.
"""
