CREATE TABLE "fhir_subscriptions" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"api_client_id" uuid NOT NULL,
	"topic" text NOT NULL,
	"patient_id" uuid,
	"content" text NOT NULL,
	"start_event_id" bigint NOT NULL,
	"status" text DEFAULT 'active' NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE INDEX "fhir_subscriptions_client_idx" ON "fhir_subscriptions" USING btree ("api_client_id");