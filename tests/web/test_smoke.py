from tests.conftest import login


def test_manager_logs_in_and_sees_dashboard(client, staff):
    response = login(client, staff["manager"])
    assert response.status_code == 302
    page = client.get("/admin/")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Engine health" in html
    assert "Staff" not in html
