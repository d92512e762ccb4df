"""Who may open which page, where each role lands, and what the navigation offers."""

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from ris.models import Role
from ris.roles import ROLE_HOME
from tests.factories import UserFactory

PAGES = {
    "scheduling:home": {Role.FRONT_DESK, Role.ADMIN},
    "worklist:home": {Role.TECHNOLOGIST, Role.ADMIN},
    "reporting:home": {Role.RADIOLOGIST, Role.ADMIN},
    "reports:critical": {Role.RADIOLOGIST, Role.ADMIN},
    "billing:home": {Role.BILLING, Role.ADMIN},
    "ris:admin_home": {Role.ADMIN},
    "worklist:reconcile_list": {Role.FRONT_DESK, Role.TECHNOLOGIST, Role.ADMIN},
    "scheduling:board": {Role.FRONT_DESK, Role.TECHNOLOGIST, Role.ADMIN},
    "interfaces:message_log": {Role.ADMIN},
    "clinical:mr_home": {Role.FRONT_DESK, Role.TECHNOLOGIST, Role.RADIOLOGIST, Role.MR_SAFETY_OFFICER, Role.ADMIN},
}
CLINICAL_PAGES = ["scheduling:home", "worklist:home", "reporting:home"]


@pytest.mark.django_db
@pytest.mark.parametrize("page", list(PAGES))
@pytest.mark.parametrize("role", list(Role), ids=str)
def test_each_page_admits_exactly_its_roles(client_for, role, page):
    response = client_for(role).get(reverse(page))
    assert response.status_code == (200 if role in PAGES[page] else 403)


@pytest.mark.django_db
@pytest.mark.parametrize("page", CLINICAL_PAGES)
def test_billing_clerk_gets_403_on_clinical_pages(client_for, page):
    assert client_for(Role.BILLING).get(reverse(page)).status_code == 403


@pytest.mark.django_db
@pytest.mark.parametrize("page", [*PAGES, "home", "admin:index"])
def test_anonymous_users_are_sent_to_the_login_page(client, page):
    response = client.get(reverse(page))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login")) or "/admin/login/" in response["Location"]


@pytest.mark.django_db
@pytest.mark.parametrize("role", list(Role), ids=str)
def test_each_role_lands_on_its_home_page(client_for, role):
    response = client_for(role).get(reverse("home"))
    assert response.status_code == 302
    assert response["Location"] == reverse(ROLE_HOME[role])


@pytest.mark.django_db
def test_a_user_without_a_role_is_signed_out_with_an_explanation(client, user_with_role):
    client.force_login(UserFactory())
    response = client.get(reverse("home"), follow=True)
    assert response.redirect_chain[-1][0] == reverse("login")
    assert "no role" in response.content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize("role", list(Role), ids=str)
def test_navigation_shows_only_the_pages_the_role_may_open(client_for, role):
    html = client_for(role).get(reverse(ROLE_HOME[role])).content.decode()
    for page, roles in PAGES.items():
        link = f'href="{reverse(page)}"'
        assert (link in html) == (role in roles), page


@pytest.mark.django_db
def test_role_groups_carry_their_permissions():
    def perms(role):
        return set(Group.objects.get(name=role.label).permissions.values_list("codename", flat=True))

    assert {"add_patient", "add_order", "change_exam"} <= perms(Role.FRONT_DESK)
    assert "change_exam" in perms(Role.TECHNOLOGIST)
    assert "add_order" not in perms(Role.TECHNOLOGIST)
    assert "change_exam" not in perms(Role.BILLING)
    assert "change_payer" in perms(Role.BILLING)
    assert "change_patient" not in perms(Role.RADIOLOGIST)
    assert {"delete_order", "change_user", "change_room"} <= perms(Role.ADMIN)
