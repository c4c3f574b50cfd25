CREATE TABLE "fhir_export_files" (
	"export_id" uuid NOT NULL,
	"type" text NOT NULL,
	"index" integer NOT NULL,
	"count" integer NOT NULL,
	"ndjson" text NOT NULL,
	"patient_ids" uuid[] NOT NULL,
	CONSTRAINT "fhir_export_files_export_id_type_index_pk" PRIMARY KEY("export_id","type","index")
);
--> statement-breakpoint
CREATE TABLE "fhir_exports" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"requester_kind" text NOT NULL,
	"requester_id" uuid NOT NULL,
	"level" text NOT NULL,
	"request" text NOT NULL,
	"types" text[] NOT NULL,
	"since" timestamp with time zone,
	"status" text DEFAULT 'pending' NOT NULL,
	"error" text,
	"transaction_time" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"completed_at" timestamp with time zone,
	"expires_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
ALTER TABLE "fhir_export_files" ADD CONSTRAINT "fhir_export_files_export_id_fhir_exports_id_fk" FOREIGN KEY ("export_id") REFERENCES "public"."fhir_exports"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "fhir_exports_requester_idx" ON "fhir_exports" USING btree ("requester_kind","requester_id");--> statement-breakpoint
CREATE INDEX "fhir_exports_expires_idx" ON "fhir_exports" USING btree ("expires_at");