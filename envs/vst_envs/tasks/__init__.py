"""More robosuite 1.5 tasks behind the :class:`vst_envs.base.RobosuiteGymEnv` interface.

``stack`` (:mod:`.stack`), ``pick_place_can`` (:mod:`.pick_place`), ``door`` (:mod:`.door`) and
``nut_assembly_square`` (:mod:`.nut_assembly`): each with a fixed language instruction, privileged state for
its scripted expert (:mod:`.experts`) and scene ground truth. Their configs live in :mod:`.configs`, which is
the only module here that importing :mod:`vst_envs` loads (it does not import robosuite).
"""
