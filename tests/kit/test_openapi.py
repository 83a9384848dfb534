def test_the_openapi_document_renders_with_both_auth_schemes(client):
    document = client.get("/openapi.json").json()
    schemes = document["components"]["securitySchemes"]
    assert {scheme["scheme"] for scheme in schemes.values()} == {"bearer", "basic"}
    assert "/v1/users/{external_id}" in document["paths"]
    assert "ErrorResponse" in document["components"]["schemas"]
