"""The 34 activities of the procedure "emitir resolución que fija los precios base para
liquidar regalías y compensaciones por la explotación de níquel" (§6), as data.

Each activity has its number, Spanish name, the roles that may carry it out and the
document it produces. The eight control points (4, 7, 13, 15, 18, 23, 25, 28) ask a
yes/no question: SÍ goes on, NO sends the case back to the activity the procedure names.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    """The procedure's responsible roles (§3 and the "Responsable" column of §6)."""

    PROFESIONAL_MINERIA = "profesional_especializado_mineria"
    """Profesional Especializado 2028, grados 19 y 20, Subdirección de Minería."""
    PROFESIONAL_MINERIA_22 = "profesional_especializado_mineria_grado_22"
    """Profesional Especializado 2028, grado 22, Subdirección de Minería: listed in §3,
    assigned no activity in §6."""
    SUBDIRECTOR_MINERIA = "subdirector_mineria"
    JEFE_OAJ = "jefe_oficina_asesora_juridica"
    PROFESIONAL_OAJ = "profesional_oficina_asesora_juridica"
    DIRECTOR_GENERAL = "director_general"
    PROFESIONAL_SGI = "profesional_especializado_sgi"
    """Profesional Especializado, Subdirección de Gestión de la Información."""


ROLE_NAMES_ES: dict[Role, str] = {
    Role.PROFESIONAL_MINERIA: (
        "Profesional Especializado 2028, grados 19 y 20 de la Subdirección de Minería"
    ),
    Role.PROFESIONAL_MINERIA_22: (
        "Profesional Especializado 2028, grado 22 de la Subdirección de Minería"
    ),
    Role.SUBDIRECTOR_MINERIA: "Subdirector(a) de Minería",
    Role.JEFE_OAJ: "Jefe Oficina Asesora Jurídica",
    Role.PROFESIONAL_OAJ: "Profesional Especializado Oficina Asesora Jurídica",
    Role.DIRECTOR_GENERAL: "Director(a) General",
    Role.PROFESIONAL_SGI: "Profesional Especializado SGI",
}

PM = frozenset({Role.PROFESIONAL_MINERIA})
SUB = frozenset({Role.SUBDIRECTOR_MINERIA})
OAJ = frozenset({Role.JEFE_OAJ, Role.PROFESIONAL_OAJ})
DG = frozenset({Role.DIRECTOR_GENERAL})
SGI = frozenset({Role.PROFESIONAL_SGI})


@dataclass(frozen=True)
class ControlPoint:
    """A yes/no question and where each answer leads."""

    question: str
    on_yes: int
    on_no: int


@dataclass(frozen=True)
class Activity:
    """One step of the procedure."""

    number: int
    name: str
    roles: frozenset[Role]
    document: str
    control: ControlPoint | None = None

    @property
    def next_number(self) -> int | None:
        """The activity that follows a plain (non-control) activity; ``None`` after 34."""
        assert self.control is None
        return self.number + 1 if self.number < LAST_ACTIVITY else None


CREATE_CASE = 1
REGISTER_COSTS = 6
REGISTER_INDICES = 8
DOWNLOAD_ANNEX = 9
SEND_FOR_COMMENTS = 19
PUBLISH_FOR_COMMENTS = 20
COMMENTS_REPORT = 21
SEND_TO_DIARIO_OFICIAL = 33
LAST_ACTIVITY = 34

ACTIVITIES: tuple[Activity, ...] = (
    Activity(
        1,
        "Crear un nuevo caso en el aplicativo, para el mineral de níquel",
        PM,
        "Número del caso creado",
    ),
    Activity(
        2,
        "Registrar la información de la empresa (rol destinatario, nombre, apellido, "
        "correo electrónico y teléfono) a la cual se dirige el oficio de solicitud de "
        "información",
        PM,
        "Información de la empresa actualizada",
    ),
    Activity(
        3,
        "Solicitar mediante memorando a la Oficina Asesora Jurídica información sobre "
        "la existencia de procesos judiciales con fallo en firme o en trámite sobre el "
        "tema que se pretende regular",
        PM,
        "Memorando proyectado",
    ),
    Activity(
        4,
        "Validar que el memorando se encuentre conforme",
        PM,
        "Oficio de solicitud de información",
        ControlPoint("¿El memorando se encuentra conforme?", on_yes=5, on_no=3),
    ),
    Activity(
        5,
        "Revisar y firmar el oficio para enviarlo a la empresa",
        SUB,
        "Oficio de solicitud de información firmado",
    ),
    Activity(
        6,
        "Recibir la plantilla y registrar los diferentes costos de acuerdo con el "
        "trimestre a evaluar",
        PM,
        "Plantilla del cargue de información de níquel diligenciada",
    ),
    Activity(
        7,
        "Validar que la información reportada en la plantilla de cargue por la "
        "empresa, en cuanto a los costos de producción, esté completa",
        PM,
        "Plantilla del cargue con el registro de los costos de producción",
        ControlPoint("¿La información está completa?", on_yes=8, on_no=6),
    ),
    Activity(
        8,
        "Registrar las variables necesarias para realizar el cálculo: TRM, número de "
        "radicado, BDI, libra por contenedor, flete por contenedor y las primas de cada "
        "uno de los meses que se va a evaluar",
        PM,
        "Plantilla de índices diligenciada",
    ),
    Activity(
        9,
        'Descargar el archivo "DataNiquel", validar el precio de níquel calculado y '
        "las variaciones de los indicadores",
        PM,
        "Reporte de Excel con los datos calculados",
    ),
    Activity(
        10,
        "Revisar el soporte técnico de precios base para liquidar regalías",
        PM,
        "Soporte técnico",
    ),
    Activity(
        11,
        "Revisar el borrador inicial del proyecto de acto administrativo, el borrador "
        "de la memoria justificativa y las circulares externas de invitación a "
        "comentarios",
        PM,
        "Borrador inicial del proyecto de acto administrativo, memoria justificativa y circulares",
    ),
    Activity(
        12,
        "Realizar y adjuntar la presentación de precios de los diferentes minerales "
        "y anexar los documentos necesarios",
        PM,
        "Presentación de precios",
    ),
    Activity(
        13,
        "Validar la presentación de resultados de LPBR",
        SUB,
        "Presentación de resultados de LPBR",
        ControlPoint("¿La información está completa?", on_yes=14, on_no=12),
    ),
    Activity(
        14,
        "Remitir mediante memorando a la Oficina Asesora Jurídica, para revisión "
        "formal y legal, el borrador del proyecto de acto administrativo, la memoria "
        "justificativa, los soportes técnicos y las circulares externas de invitación a "
        "comentarios",
        PM,
        "Memorando, proyecto de acto administrativo y anexos",
    ),
    Activity(
        15,
        "Validar que el borrador del proyecto de acto administrativo, la memoria "
        "justificativa, los soportes técnicos y las circulares externas de invitación a "
        "comentarios estén bien",
        OAJ,
        "Presentación de resultados y soporte técnico de níquel",
        ControlPoint("¿Los documentos se encuentran bien?", on_yes=16, on_no=11),
    ),
    Activity(
        16,
        "Generar presentación general de los precios y sus variaciones al Director General",
        PM,
        "Presentación actualizada y guardada",
    ),
    Activity(
        17,
        "Enviar las circulares externas para firma del Director General junto con los "
        "documentos referenciados en la actividad 14",
        PM,
        "Circulares externas",
    ),
    Activity(
        18,
        "Validar la coherencia de los datos",
        DG,
        "Datos validados por el Director General",
        ControlPoint("¿La información es coherente?", on_yes=19, on_no=11),
    ),
    Activity(
        19,
        "Enviar por correo a la Subdirección de Gestión de la Información las "
        "circulares externas firmadas por el Director General junto con los documentos "
        "referenciados, para comentarios (mínimo 15 días calendario, contados a partir "
        "del día siguiente de la publicación)",
        PM,
        "Correo con las circulares firmadas para publicación",
    ),
    Activity(
        20,
        "Publicar en la página web las circulares externas y los soportes, previo a "
        "la fecha de publicación definitiva",
        SGI,
        "Publicación en página web",
    ),
    Activity(
        21,
        "Terminado el plazo de comentarios, elaborar el informe de observaciones y "
        "respuestas y realizar los ajustes necesarios al proyecto de resolución, a los "
        "soportes y a la memoria justificativa, si hay lugar a ello",
        PM,
        "Informe de observaciones y respuestas, proyecto de resolución y memoria justificativa",
    ),
    Activity(
        22,
        "Enviar al Subdirector(a) de Minería la resolución, anexos y circulares "
        "externas para revisión",
        PM,
        "Correo con resolución, anexos y circulares externas para revisión",
    ),
    Activity(
        23,
        "Validar que la resolución, anexos y circulares externas se encuentren conformes",
        SUB,
        "Soportes",
        ControlPoint(
            "¿La resolución, anexos y circulares externas se encuentran conformes?",
            on_yes=24,
            on_no=21,
        ),
    ),
    Activity(
        24,
        "Remitir mediante memorando a la Oficina Asesora Jurídica, para revisión "
        "formal y legal, la resolución, la memoria justificativa, los soportes técnicos, "
        "el informe de observaciones y respuestas y las circulares externas de respuesta "
        "a comentarios",
        PM,
        "Memorando radicado con todos los soportes",
    ),
    Activity(
        25,
        "Realizar el análisis jurídico de la resolución, la memoria justificativa, los "
        "soportes técnicos, el informe de observaciones y respuestas y las circulares "
        "externas",
        OAJ,
        "Resolución y anexos validados por la OAJ",
        ControlPoint("¿La resolución y anexos se encuentran conformes?", on_yes=26, on_no=21),
    ),
    Activity(
        26,
        "Enviar por Argo al Director General para firma la resolución junto con la "
        "memoria justificativa",
        PM,
        "Radicado de la versión definitiva de la resolución y la memoria justificativa",
    ),
    Activity(
        27,
        "Enviar por Argo al Director General para firma las circulares externas y el "
        "informe de observaciones y respuestas",
        PM,
        "Radicado con las circulares externas y el informe de observaciones y "
        "respuestas para firma",
    ),
    Activity(
        28,
        "Firmar la resolución y las circulares externas, de encontrarlas viables "
        "jurídica y técnicamente",
        DG,
        "Radicado con los soportes",
        ControlPoint("¿La resolución y circulares son viables?", on_yes=29, on_no=21),
    ),
    Activity(
        29,
        "Enviar a la Oficina Asesora Jurídica por radicado la resolución, el soporte "
        "técnico y la memoria justificativa para publicación en la página web",
        PM,
        "Radicado con los soportes firmados",
    ),
    Activity(
        30,
        "Solicitar por correo electrónico a la Subdirección de Gestión de la "
        "Información que publique en la página web y en el SIMCO las circulares externas "
        "y el informe de observaciones y respuestas",
        PM,
        "Correo de solicitud de publicación de las circulares externas y el informe de "
        "observaciones y respuestas",
    ),
    Activity(
        31,
        "Solicitar por correo electrónico a la Subdirección de Gestión de la "
        "Información que publique en la página web y en el SIMCO la resolución y "
        "anexos",
        OAJ,
        "Correo de solicitud de publicación de la resolución y anexos",
    ),
    Activity(
        32,
        "Publicar en la página web y en el SIMCO la resolución y las circulares externas",
        SGI,
        "Publicación en el portal web y en el SIMCO",
    ),
    Activity(
        33,
        "Remitir al Diario Oficial la resolución para su publicación, el último día hábil del mes",
        OAJ,
        "Correo electrónico",
    ),
    Activity(
        34,
        "Verificar la publicación de la resolución y las circulares externas en la "
        "página web y en el SIMCO",
        PM,
        "Publicación en la página web y en el SIMCO",
    ),
)

ACTIVITY_BY_NUMBER: dict[int, Activity] = {a.number: a for a in ACTIVITIES}
CONTROL_POINTS: tuple[int, ...] = tuple(a.number for a in ACTIVITIES if a.control is not None)

assert tuple(ACTIVITY_BY_NUMBER) == tuple(range(1, LAST_ACTIVITY + 1))
assert CONTROL_POINTS == (4, 7, 13, 15, 18, 23, 25, 28)


def activity(number: int) -> Activity:
    """The activity with that number (1–34)."""
    return ACTIVITY_BY_NUMBER[number]
