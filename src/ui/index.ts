// The web dashboard served by the server; talks to it over HTTP. Imports api.
// Nothing is exported yet: the dashboard issue adds it.
export {};
