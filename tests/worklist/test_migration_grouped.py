"""Migration worklist 0003: a step recorded before grouped procedures keeps its exam among its exams."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from tests.factories import make_booked_exam

BEFORE = [("worklist", "0002_instance_availability")]
AFTER = [("worklist", "0003_grouped_steps")]


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_step_recorded_before_the_group_case_has_its_exam_among_its_exams():
    exam = make_booked_exam()
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    try:
        old_step = executor.loader.project_state(BEFORE).apps.get_model("worklist", "PerformedProcedureStep")
        old_step.objects.create(sop_instance_uid="1.2.826.0.1.3", status="COMPLETED", exam_id=exam.pk)
    finally:
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(executor.loader.graph.leaf_nodes())  # every app back at its latest, for the tests after
    new_step = executor.loader.project_state(AFTER).apps.get_model("worklist", "PerformedProcedureStep")
    assert list(new_step.objects.get(sop_instance_uid="1.2.826.0.1.3").exams.values_list("pk", flat=True)) == [exam.pk]
