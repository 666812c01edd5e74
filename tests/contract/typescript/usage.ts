// What a frontend team writes against the generated types. It must compile under --strict.
// The request bodies leave out every field that has a default (`active`, `is_primary`,
// `upsert_clients`, an event's `source`): with openapi-typescript's default
// (--default-non-nullable true) those fields become required and this file stops compiling.
import createClient from "openapi-fetch";
import type { components, paths } from "./tenure";

type Schemas = components["schemas"];

const api = createClient<paths>({
  baseUrl: "http://127.0.0.1:8000",
  headers: { Authorization: "Bearer tnr_example" },
});

export async function createAccountManager(): Promise<Schemas["OwnerRead"]> {
  const { data, error } = await api.POST("/v1/owners", {
    body: { name: "Dana Scully", email: "dana@acme.example" },
  });
  if (error) throw new Error(`${error.status}: ${error.title}`);
  return data;
}

export async function createClientByName(name: string): Promise<string> {
  const { data, error } = await api.POST("/v1/clients", { body: { name } });
  if (error) throw new Error(error.detail ?? error.title);
  return data.id;
}

export async function addPrimaryContact(clientId: string): Promise<Schemas["ContactRead"]> {
  const { data, error } = await api.POST("/v1/clients/{client_id}/contacts", {
    params: { path: { client_id: clientId } },
    body: { name: "Hank Scorpio", email: "hank@globex.example" },
  });
  if (error) throw new Error(error.title);
  return data;
}

export async function recordLogin(externalId: string): Promise<number> {
  const { data, error } = await api.POST("/v1/events", {
    body: {
      events: [
        { client_external_id: externalId, type: "login", occurred_at: "2026-11-02T09:30:00Z" },
      ],
    },
  });
  if (error) throw new Error(error.title);
  return data.results.filter((item) => item.status === "created").length;
}

export async function enterpriseClientNames(cursor?: string): Promise<string[]> {
  const { data, error } = await api.GET("/v1/clients", {
    params: { query: { tier: "enterprise", sort: "name", limit: 20, cursor } },
  });
  if (error) throw new Error(error.title);
  return data.data.map((client) => client.name);
}

export async function everyApiKeyPrefix(): Promise<string[]> {
  const prefixes: string[] = [];
  let cursor: string | undefined;
  do {
    const { data, error } = await api.GET("/v1/api-keys", {
      params: { query: { limit: 100, cursor } },
    });
    if (error) throw new Error(error.title);
    prefixes.push(...data.data.map((key) => key.prefix));
    cursor = data.has_more && data.next_cursor !== null ? data.next_cursor : undefined;
  } while (cursor !== undefined);
  return prefixes;
}
